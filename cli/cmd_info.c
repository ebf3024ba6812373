/* elms info: what a model directory holds: its configuration, parameter count and bytes, tied embeddings, the
 * attention mask and the head (with a classifier's labels), and whether a tokenizer, elastic.json and LoRA
 * adapters are present. The whole checkpoint is loaded (validated). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "cli/engine_args.h"
#include "engine/io.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* print_lora: the adapters in DIR/lora (names sorted). */
static void print_lora(const char *dir) {
    char lp[1200];
    snprintf(lp, sizeof lp, "%s/lora", dir);
    DIR *d = opendir(lp);
    char *names[256];
    int n = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) && n < 256) {
            size_t k = strlen(de->d_name);
            if (k > 12 && !strcmp(de->d_name + k - 12, ".safetensors")) names[n++] = strdup(de->d_name);
        }
        closedir(d);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    printf("lora               ");
    if (!n) printf("none");
    for (int i = 0; i < n; i++) {
        printf("%slora/%s", i ? " " : "", names[i]);
        free(names[i]);
    }
    putchar('\n');
}

/* print_head: the head kind, and a classifier's labels: their groups, or multi-label. */
static void print_head(const ModelConfig *c) {
    printf("head               %s", model_head_name(c->head));
    if (c->head != HEAD_LM) printf(", %d labels", c->n_labels);
    if (c->multi_label) printf(", multi-label (a sigmoid per label)");
    if (c->head == HEAD_SEQUENCE && !c->multi_label) {
        printf(", %d label group%s (", c->n_groups, c->n_groups == 1 ? "" : "s");
        for (int g = 0; g < c->n_groups; g++) printf("%s%d", g ? ", " : "", c->group_size[g]);
        printf(")");
    }
    putchar('\n');
}

static int cmd_info(int argc, char **argv) {
    CliFlag fl[] = {{"model", "DIR", "model directory", NULL}};
    int pr = cli_parse(argc, argv, "elms info --model DIR", fl, 1, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value) {
        fprintf(stderr, "elms info: --model DIR is required (see --help)\n");
        return 2;
    }
    const char *dir = fl[0].value;
    EngineModel em;
    int rc = engine_model_load("info", dir, &em);
    if (rc) return rc;
    char wp[1200];
    snprintf(wp, sizeof wp, "%s/model.safetensors", dir);
    StFile f;
    Err e;
    if (st_open(&f, wp, &e) != 0) {
        engine_model_free(&em);
        return cli_error("info", "%s", e.msg);
    }
    int seen[3] = {0};
    for (int i = 0; i < f.n_tensors; i++) seen[f.tensors[i].dtype] = 1;
    char dtypes[32] = "";
    for (int d = 0; d < 3; d++)
        if (seen[d]) snprintf(dtypes + strlen(dtypes), sizeof dtypes - strlen(dtypes), "%s%s", *dtypes ? "+" : "",
                              st_dtype_name((StDtype)d));
    size_t file_bytes = f.map_len;
    st_close(&f);
    const ModelConfig *c = &em.model.cfg;
    printf("model              %s\n", dir);
    printf("hidden_size        %d\n", c->dim);
    printf("layers             %d\n", c->n_layers);
    printf("heads              %d (kv heads %d, head_dim %d)\n", c->n_heads, c->n_kv_heads, c->head_dim);
    printf("intermediate_size  %d\n", c->ffn_dim);
    printf("vocab_size         %d\n", c->vocab_size);
    printf("context            %d\n", c->max_seq);
    printf("rms_norm_eps       %g\n", (double)c->norm_eps);
    printf("rope_theta         %g\n", (double)c->rope_theta);
    printf("bos/eos            %d / %d\n", c->bos_id, c->eos_id);
    printf("embeddings         %s\n", c->tied ? "tied" : "untied");
    printf("attention          %s\n", c->bidirectional ? "bidirectional (is_causal false)" : "causal");
    print_head(c);
    printf("parameters         %zu\n", em.model.n_params);
    printf("bytes              %zu in model.safetensors (%s), %zu in memory (F32)\n", file_bytes, dtypes,
           em.model.n_params * sizeof(float));
    if (em.has_tok)
        printf("tokenizer          tokenizer.json (%d pieces, bos %d, eos %d, unk %d)\n", em.tok.vocab_size,
               em.tok.bos_id, em.tok.eos_id, em.tok.unk_id);
    else
        printf("tokenizer          none\n");
    char ep[1200];
    snprintf(ep, sizeof ep, "%s/elastic.json", dir);
    printf("elastic            %s\n", path_is_file(ep) ? "elastic.json" : "none");
    print_lora(dir);
    engine_model_free(&em);
    return 0;
}

CLI_COMMAND("info", "describe a model directory", cmd_info)
