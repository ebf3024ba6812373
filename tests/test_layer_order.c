/* The layer order of docs/architecture.md holds: every #include "dir/..." in the .c and .h files below a layer
 * directory names its own directory or a lower layer (never a peer, a higher layer, bench/, fuzz/ or tests/), and
 * every top-level directory with C files has a place in the order. The check runs on the repository (tests run from its
 * root; skipped elsewhere) and, to show that it catches what it should, on a small tree with known violations. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileutil.h"
#include "tests/test.h"

#define LAYERS_DOC "docs/architecture.md"
#define MAX_LAYERS 32

/* The order from the `layers:` line: name[i] sits at rank[i]; equal ranks are peers. */
typedef struct Layers {
    char name[MAX_LAYERS][64];
    int rank[MAX_LAYERS];
    int n;
} Layers;

/* What a check found: the number of violations and their messages, one a line. */
typedef struct Report {
    int n;
    char text[16384];
} Report;

static void report_add(Report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_add(Report *r, const char *fmt, ...) {
    size_t len = strlen(r->text);
    va_list ap;
    va_start(ap, fmt);
    if (len + 1 < sizeof r->text) vsnprintf(r->text + len, sizeof r->text - len, fmt, ap);
    va_end(ap);
    len = strlen(r->text);
    if (len + 1 < sizeof r->text) strcat(r->text, "\n");
    r->n++;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '`') s++;
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n`", s[n - 1])) s[--n] = 0;
    return s;
}

/* layers_parse: "layers: a < b, c < d" (after the prefix) into L; 0, or -1 with a message in err. */
static int layers_parse(char *spec, Layers *L, char *err, size_t cap) {
    memset(L, 0, sizeof *L);
    int rank = 0;
    for (char *group = spec, *next; group; group = next, rank++) {
        next = strchr(group, '<');
        if (next) *next++ = 0;
        for (char *item = group, *more; item; item = more) {
            more = strchr(item, ',');
            if (more) *more++ = 0;
            char *name = trim(item);
            if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name) ||
                strlen(name) >= sizeof L->name[0]) {
                snprintf(err, cap, "layers: expected directory names separated by '<' and ',', got '%s'", name);
                return -1;
            }
            for (int i = 0; i < L->n; i++)
                if (!strcmp(L->name[i], name)) {
                    snprintf(err, cap, "layers: %s is named twice", name);
                    return -1;
                }
            if (L->n == MAX_LAYERS) {
                snprintf(err, cap, "layers: more than %d directories", MAX_LAYERS);
                return -1;
            }
            snprintf(L->name[L->n], sizeof L->name[0], "%s", name);
            L->rank[L->n++] = rank;
        }
    }
    return 0;
}

/* layers_read: the first line of path that starts with "layers:" (after blanks and backticks), parsed. */
static int layers_read(const char *path, Layers *L, char *err, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: cannot open", path);
        return -1;
    }
    char line[1024];
    int rc = -1;
    snprintf(err, cap, "%s: no line starting with 'layers:'", path);
    while (fgets(line, sizeof line, f)) {
        char *s = trim(line);
        if (strncmp(s, "layers:", 7)) continue;
        rc = layers_parse(s + 7, L, err, cap);
        break;
    }
    fclose(f);
    return rc;
}

static int layer_of(const Layers *L, const char *name, size_t len) {
    for (int i = 0; i < L->n; i++)
        if (strlen(L->name[i]) == len && !strncmp(L->name[i], name, len)) return i;
    return -1;
}

/* is_top: bench/, fuzz/ and tests/ sit on top of every layer (they may include any; none includes them). */
static int is_top(const char *name, size_t len) {
    return (len == 5 && !strncmp(name, "bench", 5)) || (len == 4 && !strncmp(name, "fuzz", 4)) ||
           (len == 5 && !strncmp(name, "tests", 5));
}

static int is_c_file(const char *name) {
    size_t n = strlen(name);
    return n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h');
}

/* check_file: every quoted include with a directory in root/rel, a file of layer `own`. */
static void check_file(const char *root, const char *rel, int own, const Layers *L, Report *r) {
    char path[4096], line[4096];
    FILE *f = (size_t)snprintf(path, sizeof path, "%s/%s", root, rel) < sizeof path ? fopen(path, "r") : NULL;
    if (!f) {
        report_add(r, "%s: cannot open", rel);
        return;
    }
    int lineno = 1;
    while (fgets(line, sizeof line, f)) {
        int here = lineno;
        if (strchr(line, '\n')) lineno++;
        const char *p = line + strspn(line, " \t");
        if (*p++ != '#') continue;
        p += strspn(p, " \t");
        if (strncmp(p, "include", 7)) continue;
        p += 7;
        p += strspn(p, " \t");
        if (*p++ != '"') continue;
        const char *end = strchr(p, '"'), *slash = strchr(p, '/');
        if (!end || !slash || slash > end) continue; /* no directory: not a layer question */
        size_t len = (size_t)(slash - p);
        int to = layer_of(L, p, len);
        const char *why = NULL;
        if (to == own) continue;
        if (is_top(p, len)) why = "bench/, fuzz/ and tests/ sit on top";
        else if (to < 0) why = "not in the layer order of " LAYERS_DOC;
        else if (L->rank[to] == L->rank[own]) why = "a peer";
        else if (L->rank[to] > L->rank[own]) why = "a higher layer";
        if (why)
            report_add(r, "%s:%d: #include \"%.*s\": %s may not include %.*s (%s)", rel, here, (int)(end - p), p,
                       L->name[own], (int)len, p, why);
    }
    fclose(f);
}

/* check_dir: every .c and .h file below root/rel (recursively), as files of layer `own`. */
static void check_dir(const char *root, const char *rel, int own, const Layers *L, Report *r) {
    char path[4096];
    DIR *d = (size_t)snprintf(path, sizeof path, "%s/%s", root, rel) < sizeof path ? opendir(path) : NULL;
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[4096], full[4096];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name) >= sizeof sub ||
            (size_t)snprintf(full, sizeof full, "%s/%s", root, sub) >= sizeof full)
            continue;
        if (path_is_dir(full)) check_dir(root, sub, own, L, r);
        else if (is_c_file(de->d_name) && path_is_file(full)) check_file(root, sub, own, L, r);
    }
    closedir(d);
}

/* has_c_files: root/name holds .c or .h files directly. */
static int has_c_files(const char *root, const char *name) {
    char path[4096];
    DIR *d = (size_t)snprintf(path, sizeof path, "%s/%s", root, name) < sizeof path ? opendir(path) : NULL;
    if (!d) return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d))) found = is_c_file(de->d_name);
    closedir(d);
    return found;
}

/* check_tree: the whole check on the repository at root against the order L. */
static void check_tree(const char *root, const Layers *L, Report *r) {
    for (int i = 0; i < L->n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, L->name[i]);
        if (path_is_dir(path)) check_dir(root, L->name[i], i, L, r); /* a missing layer is simply skipped */
    }
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", root, n) >= sizeof path) continue;
        if (n[0] == '.' || !path_is_dir(path) || is_top(n, strlen(n)) || layer_of(L, n, strlen(n)) >= 0) continue;
        if (has_c_files(root, n))
            report_add(r, "%s/: a directory with C files that is not in the layer order of " LAYERS_DOC, n);
    }
    closedir(d);
}

TEST(layers_follow_docs_architecture) {
    if (!path_is_file(LAYERS_DOC)) SKIP("%s not found (run from the repository root)", LAYERS_DOC);
    Layers L;
    char err[512];
    if (layers_read(LAYERS_DOC, &L, err, sizeof err)) {
        CHECK_MSG(0, "%s", err);
        return;
    }
    CHECK_MSG(L.n >= 2 && !strcmp(L.name[0], "base"), "the order should start with base, got %s", L.name[0]);
    static Report r;
    check_tree(".", &L, &r);
    CHECK_MSG(r.n == 0, "%d include(s) break the layer order of %s:\n%s", r.n, LAYERS_DOC, r.text);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The check itself, on a small tree: each kind of violation is found, with file, line and include; what is
 * allowed passes; a missing layer is skipped. */
TEST(layers_check_finds_violations) {
    const char *root = test_path("repo");
    const char *dirs[] = {"",      "/docs",  "/low",  "/low/sub", "/mid",
                          "/peer", "/high", "/tests", "/fuzz",   "/stray", "/notes"};
    char path[2048];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s%s", root, dirs[i]);
        CHECK(mkdir(path, 0700) == 0);
    }
    struct {
        const char *file, *text;
    } files[] = {
        {"docs/architecture.md", "# order\n\n```\nlayers: low < mid, peer < absent < high\n```\nlayers: ignored\n"},
        {"low/a.h", "#include <stdio.h>\n#include \"x.h\"\n#include \"low/b.h\"\n#include \"mid/m.h\"\n"},
        {"low/sub/deep.c", "/* deep */\n#include \"high/h.h\"\n"},
        {"mid/m.c", "#include \"low/a.h\"\n#include \"peer/p.h\"\n#  include \"tests/test.h\"\n#include \"other/o.h\"\n"},
        {"peer/p.h", "#include \"low/a.h\"\n\n#include \"high/h.h\"\n#include \"fuzz/fuzz.h\"\n"},
        {"high/h.c", "#include \"low/a.h\"\n#include \"mid/m.h\"\n#include \"peer/p.h\"\n#include \"high/h.h\"\n"},
        {"tests/t.c", "#include \"high/h.h\"\n"},
        {"fuzz/f.c", "#include \"high/h.h\"\n#include \"tests/test.h\"\n"},
        {"stray/s.c", "int x;\n"},
        {"notes/readme.txt", "#include \"high/h.h\"\n"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", root, files[i].file);
        write_text(path, files[i].text);
    }
    Layers L;
    char err[512];
    snprintf(path, sizeof path, "%s/docs/architecture.md", root);
    CHECK_MSG(layers_read(path, &L, err, sizeof err) == 0, "%s", err);
    CHECK(L.n == 5 && L.rank[1] == L.rank[2] && L.rank[3] < L.rank[4]);
    static Report r;
    check_tree(root, &L, &r);
    const char *want[] = {
        "low/a.h:4: #include \"mid/m.h\": low may not include mid (a higher layer)",
        "low/sub/deep.c:2: #include \"high/h.h\": low may not include high (a higher layer)",
        "mid/m.c:2: #include \"peer/p.h\": mid may not include peer (a peer)",
        "mid/m.c:3: #include \"tests/test.h\": mid may not include tests (bench/, fuzz/ and tests/ sit on top)",
        "mid/m.c:4: #include \"other/o.h\": mid may not include other (not in the layer order of docs/architecture.md)",
        "peer/p.h:3: #include \"high/h.h\": peer may not include high (a higher layer)",
        "peer/p.h:4: #include \"fuzz/fuzz.h\": peer may not include fuzz (bench/, fuzz/ and tests/ sit on top)",
        "stray/: a directory with C files that is not in the layer order of docs/architecture.md",
    };
    int n_want = (int)(sizeof want / sizeof want[0]);
    for (int i = 0; i < n_want; i++) CHECK_MSG(strstr(r.text, want[i]), "missing: %s\nfound:\n%s", want[i], r.text);
    CHECK_MSG(r.n == n_want, "%d violations, want %d:\n%s", r.n, n_want, r.text);
    /* malformed order lines are refused */
    char bad1[] = " low < < high", bad2[] = " low < mid, low", bad3[] = " low < Mid/x";
    CHECK(layers_parse(bad1, &L, err, sizeof err) == -1);
    CHECK(layers_parse(bad2, &L, err, sizeof err) == -1 && strstr(err, "twice"));
    CHECK(layers_parse(bad3, &L, err, sizeof err) == -1);
}
