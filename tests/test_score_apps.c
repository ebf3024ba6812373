/* `elms score --app APP|all --split S --data DIR`: items are generated when missing, the output has one line per
 * app and a macro line, and bad app or split names are usage errors. */
#include "base/fileutil.h"
#include "engine/tokenizer.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TEST(score_app_generates_items_and_prints_per_app) {
    char cmd[2048], *out = NULL;
    const char *d = test_tmpdir();
    /* a random model with a tokenizer that covers the generated apps: build the data dir's tokenizer first */
    snprintf(cmd, sizeof cmd, "data gen --out %s/data --seed 1 --items-only --train 50 --dev 20 --test 20", d);
    CHECK(test_run_cli(cmd, &out) == 0);
    free(out);
    Tokenizer tok;
    Err e;
    char tok_path[1024];
    snprintf(tok_path, sizeof tok_path, "%s/data/tokenizer.json", d);
    CHECK_MSG(tokenizer_load(&tok, tok_path, &e) == 0, "%s", e.msg);
    snprintf(cmd, sizeof cmd, "init --out %s/m --layers 1 --dim 16 --heads 2 --ffn 16 --vocab %d --ctx 512 --seed 3", d,
             tok.vocab_size);
    tokenizer_free(&tok);
    CHECK(test_run_cli(cmd, &out) == 0);
    free(out);
    snprintf(cmd, sizeof cmd, "cp %s/data/tokenizer.json %s/m/", d, d);
    CHECK(system(cmd) == 0);
    /* items of a fresh data directory are generated on demand (default sizes: 500 test items per app) */
    snprintf(cmd, sizeof cmd, "score --model %s/m --app reading --split test --data %s/fresh", d, d);
    CHECK(test_run_cli(cmd, &out) == 0);
    CHECK_MSG(strstr(out, "reading accuracy ") && strstr(out, "/500 = ") && strstr(out, "\nmacro "), "%s", out);
    free(out);
    char path[1024];
    snprintf(path, sizeof path, "%s/fresh/items/uinav/test.jsonl", d);
    CHECK(path_is_file(path));
    /* all six apps from the existing directory (20 test items each): six app lines, sorted, then macro */
    snprintf(cmd, sizeof cmd, "score --model %s/m --app all --data %s/data", d, d);
    CHECK(test_run_cli(cmd, &out) == 0);
    const char *apps[6] = {"facts", "funcall", "physical", "reading", "science", "uinav"};
    const char *p = out;
    for (int i = 0; i < 6; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s accuracy ", apps[i]);
        const char *q = strstr(p, want);
        CHECK_MSG(q && strstr(q, "/20 = "), "missing or out of order: %s in\n%s", apps[i], out);
        if (q) p = q;
    }
    CHECK(strstr(p, "\nmacro ") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "score --model %s/m --app cooking --data %s/data", d, d);
    CHECK(test_run_cli(cmd, &out) == 2 && strstr(out, "--app expects"));
    free(out);
    snprintf(cmd, sizeof cmd, "score --model %s/m --app facts --split holdout --data %s/data", d, d);
    CHECK(test_run_cli(cmd, &out) == 2 && strstr(out, "--split expects"));
    free(out);
}
