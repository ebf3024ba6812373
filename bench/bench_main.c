/* bench_main: runs the benchmark programs (all, or those named on the command line). */
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

double bench_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* every line as it is measured, also into a file or a pipe */
    struct {
        const char *name;
        void (*fn)(void);
    } all[] = {{"engine", bench_engine}, {"serve", bench_serve}, {"sim", bench_sim}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int run = argc < 2;
        for (int a = 1; a < argc; a++) run |= strstr(all[i].name, argv[a]) != NULL;
        if (!run) continue;
        printf("== bench %s\n", all[i].name);
        fflush(stdout);
        all[i].fn();
    }
    return 0;
}
