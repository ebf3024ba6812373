/* The documentation's links hold: every relative link of README.md and docs/NAME.md ("[text](path)" or
 * "[text](path#anchor)"; web and mail links are left alone, and so is anything inside a fenced code block) names a
 * file or directory that exists, and an anchor names a heading of the Markdown file it points into, by the slug
 * GitHub gives that heading (lower case; a space becomes a hyphen; ASCII punctuation other than '-' and '_' and
 * the general punctuation of U+2000-U+206F, such as an em dash, are dropped; a repeated slug gets -1, -2, ...).
 * Checked on the repository (tests run from its root; skipped elsewhere) and, to show that it catches what it
 * should, on a small tree with known broken links. */
#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileutil.h"
#include "engine/io.h"
#include "tests/test.h"

enum { SLUG_MAX = 200 };

/* The slugs of one file's headings, in order, repeats already suffixed. */
typedef struct Slugs {
    char (*s)[SLUG_MAX];
    int n, cap;
} Slugs;

/* What a check found: the number of broken links and their messages, one a line (cut at the buffer's end). */
typedef struct Broken {
    int n;
    char text[8192];
} Broken;

/* slug_of: GitHub's anchor for the heading text h[0..len) (see the header comment). */
static void slug_of(const char *h, size_t len, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == 0xE2 && i + 2 < len && ((unsigned char)h[i + 1] == 0x80 || (unsigned char)h[i + 1] == 0x81)) {
            i += 2; /* U+2000-U+207F: dashes, quotes, ellipses */
            continue;
        }
        if (isalnum(c) || c == '-' || c == '_' || c >= 0x80) out[o++] = (char)tolower(c);
        else if (c == ' ') out[o++] = '-';
    }
    out[o] = 0;
}

static bool is_fence(const char *line) { return !strncmp(line, "```", 3) || !strncmp(line, "~~~", 3); }

/* slugs_read: the heading slugs of the Markdown text (ATX headings outside fenced code). */
static void slugs_read(const char *text, Slugs *S) {
    S->n = 0;
    bool fenced = false;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (is_fence(line)) fenced = !fenced;
        size_t hashes = 0;
        while (hashes < len && line[hashes] == '#') hashes++;
        if (!fenced && hashes >= 1 && hashes <= 6 && hashes < len && line[hashes] == ' ') {
            const char *h = line + hashes + 1;
            size_t hl = len - hashes - 1;
            while (hl && (h[hl - 1] == ' ' || h[hl - 1] == '#' || h[hl - 1] == '\r')) hl--;
            char base[SLUG_MAX];
            slug_of(h, hl, base, sizeof base);
            int seen = 0;
            for (int i = 0; i < S->n; i++) {
                char want[SLUG_MAX + 16];
                snprintf(want, sizeof want, seen ? "%s-%d" : "%s", base, seen);
                if (!strcmp(S->s[i], want)) seen++;
            }
            if (S->n == S->cap) {
                S->cap = S->cap ? 2 * S->cap : 64;
                S->s = realloc(S->s, (size_t)S->cap * sizeof *S->s);
                if (!S->s) abort();
            }
            if (seen) snprintf(S->s[S->n], SLUG_MAX, "%.*s-%d", SLUG_MAX - 16, base, seen);
            else snprintf(S->s[S->n], SLUG_MAX, "%s", base);
            S->n++;
        }
        line += len + (end != NULL);
    }
}

static void broken_add(Broken *b, const char *doc, const char *target, const char *why) {
    size_t at = strlen(b->text);
    if (at + 1 < sizeof b->text) snprintf(b->text + at, sizeof b->text - at, "%s: (%s): %s\n", doc, target, why);
    b->n++;
}

/* check_doc: the links of root/rel, broken ones added to b. */
static void check_doc(const char *root, const char *rel, Broken *b) {
    char path[4096], *text;
    size_t len;
    Err e;
    snprintf(path, sizeof path, "%s/%s", root, rel);
    if (io_read_file(path, &text, &len, &e) != 0) {
        broken_add(b, rel, "", e.msg);
        return;
    }
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    bool fenced = false;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (is_fence(line)) fenced = !fenced;
        for (char *p = line; !fenced && (p = strstr(p, "](")) && p < line + ll; p += 2) {
            const char *t = p + 2;
            size_t tl = strcspn(t, ") \t\n");
            char target[1024];
            snprintf(target, sizeof target, "%.*s", (int)(tl < sizeof target ? tl : sizeof target - 1), t);
            if (!strncmp(target, "http://", 7) || !strncmp(target, "https://", 8) || !strncmp(target, "mailto:", 7))
                continue;
            char *hash = strchr(target, '#');
            const char *anchor = hash ? hash + 1 : NULL;
            if (hash) *hash = 0;
            char file[4096];
            if (target[0]) snprintf(file, sizeof file, "%s/%s/%s", root, dir, target);
            else snprintf(file, sizeof file, "%s", path);
            if (hash) *hash = '#';
            if (!path_is_file(file) && !path_is_dir(file)) {
                broken_add(b, rel, target, "no such file");
                continue;
            }
            size_t fl = strlen(file);
            if (!anchor || fl < 3 || strcmp(file + fl - 3, ".md")) continue;
            char *md;
            size_t mdl;
            if (io_read_file(file, &md, &mdl, &e) != 0) {
                broken_add(b, rel, target, e.msg);
                continue;
            }
            Slugs S = {0};
            slugs_read(md, &S);
            bool found = false;
            for (int i = 0; i < S.n && !found; i++) found = !strcmp(S.s[i], anchor);
            if (!found) broken_add(b, rel, target, "no heading has that anchor");
            free(S.s);
            free(md);
        }
        line += ll + (end != NULL);
    }
    free(text);
}

/* check_docs: README.md and every docs/NAME.md below root. */
static void check_docs(const char *root, Broken *b) {
    check_doc(root, "README.md", b);
    char docs[4096];
    snprintf(docs, sizeof docs, "%s/docs", root);
    DIR *d = opendir(docs);
    if (!d) return;
    static char names[256][sizeof "docs/" + sizeof ((struct dirent *)0)->d_name];
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) && n < 256;) {
        size_t l = strlen(de->d_name);
        if (l > 3 && !strcmp(de->d_name + l - 3, ".md")) snprintf(names[n++], sizeof names[0], "docs/%s", de->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++) check_doc(root, names[i], b);
}

TEST(doc_links_resolve) {
    if (!path_is_file("README.md") || !path_is_dir("docs"))
        SKIP("README.md and docs/ not found (run from the repository root)");
    static Broken b;
    memset(&b, 0, sizeof b);
    check_docs(".", &b);
    CHECK_MSG(b.n == 0, "%d broken link(s) in README.md and docs/:\n%s", b.n, b.text);
}

/* The check itself, on a small tree: a missing file and a missing anchor are found; a link into a heading with an
 * em dash and code, a repeated heading's second slug, a same-file anchor, a directory, a link back up and the
 * links in a fenced block or on the web are not. */
TEST(doc_links_check_finds_broken_ones) {
    const char *root = test_path("docs-tree");
    char p[2048];
    Err e;
    CHECK(mkdir(root, 0700) == 0);
    snprintf(p, sizeof p, "%s/docs", root);
    CHECK(mkdir(p, 0700) == 0);
    const char *readme = "# Top heading\n\n[a](docs/a.md#real-heading), [b](docs/missing.md), [c](docs/a.md#nope),\n"
                         "[d](#top-heading) [e](docs/a.md#dup-1) [f](docs/a.md#its-code--here) [g](docs/)\n"
                         "[web](https://example.com/x#y)\n```\n[in a block](nowhere.md)\n```\n";
    const char *a = "# Real heading\n\n## Dup\n\n## Dup\n\n## It's `code` \xe2\x80\x94 here\n\n"
                    "[back](../README.md#top-heading) [gone](../README.md#dup)\n";
    snprintf(p, sizeof p, "%s/README.md", root);
    CHECK(io_write_atomic(p, readme, strlen(readme), &e) == 0);
    snprintf(p, sizeof p, "%s/docs/a.md", root);
    CHECK(io_write_atomic(p, a, strlen(a), &e) == 0);
    static Broken b;
    memset(&b, 0, sizeof b);
    check_docs(root, &b);
    CHECK_MSG(b.n == 3, "expected 3 broken links, found %d:\n%s", b.n, b.text);
    CHECK_MSG(strstr(b.text, "README.md: (docs/missing.md): no such file"), "%s", b.text);
    CHECK_MSG(strstr(b.text, "README.md: (docs/a.md#nope): no heading has that anchor"), "%s", b.text);
    CHECK_MSG(strstr(b.text, "docs/a.md: (../README.md#dup): no heading has that anchor"), "%s", b.text);
}
