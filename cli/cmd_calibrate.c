/* elms calibrate: time the engine on this machine and write the `host` latency profile (sim/calibrate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "cli/cli.h"
#include "cli/engine_args.h"
#include "sim/calibrate.h"
#include "sim/db.h"

/* The CPU model from /proc/cpuinfo, or "unknown CPU". */
static void cpu_name(char *out, size_t cap) {
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v++;
                while (*v == ' ') v++;
                v[strcspn(v, "\n")] = 0;
                snprintf(out, cap, "%s", v);
            }
            break;
        }
    fclose(f);
}

static int parse_lengths(const char *s, int *out, int max) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || v < 1 || v > 1 << 20 || n >= max) return -1;
        out[n++] = (int)v;
    }
    return n;
}

static int cmd_calibrate(int argc, char **argv) {
    char d_idle[24];
    snprintf(d_idle, sizeof d_idle, "%g", CALIB_IDLE_MS);
    CliFlag fl[] = {
        {"model", "DIR", "model directory to time (its elastic.json anchors and lora/ adapters are used)", NULL},
        {"out", "FILE", "profile to write", "sim/profiles/host.json"},
        {"db", "FILE", "also store the calibration points in this database", NULL},
        {"lengths", "LIST", "prompt lengths to time", "8,16,32,64,128,192,256"},
        {"reps", "N", "runs per point (the median is kept)", "5"},
        {"decode-steps", "N", "decode steps timed after each prefill", "32"},
        {"name", "NAME", "profile name", "host"},
        {"seed", "S", "seed for the token ids", "1"},
        {"tlm-only", NULL, "time only the tiny LM (MODEL/policies/elms) and update the tlm group of --out in place",
         NULL},
        {"force", NULL, "write --out even when it exists (the shipped profiles are tracked files)", NULL},
        {"idle-ms", "MS", "idle time before each timed pass, as a request arrives at an idle engine", d_idle},
    };
    const int nf = sizeof fl / sizeof fl[0];
    int pr = cli_parse(argc, argv, "elms calibrate --model DIR [--out FILE] [--db FILE]", fl, nf, NULL, 0, NULL);
    if (pr) return pr > 0 ? 0 : 2;
    if (!fl[0].value) {
        fprintf(stderr, "elms calibrate: --model DIR is required\n");
        return 2;
    }
    int lengths[32];
    int n_len = parse_lengths(fl[3].value, lengths, 32);
    if (n_len < 2) {
        fprintf(stderr, "elms calibrate: --lengths expects 2..32 positive integers, got '%s'\n", fl[3].value);
        return 2;
    }
    long reps, steps, seed;
    if (cli_int("calibrate", "reps", fl[4].value, 1, 1000, &reps) ||
        cli_int("calibrate", "decode-steps", fl[5].value, 1, 4096, &steps) ||
        cli_int("calibrate", "seed", fl[7].value, 0, 4294967295L, &seed))
        return 2;
    double idle_ms;
    if (cli_double_in("calibrate", "idle-ms", fl[10].value, 0, 10000, &idle_ms)) return 2;
    if (path_is_file(fl[1].value) && !fl[9].value) {
        fprintf(stderr, "elms calibrate: %s exists (the simulator prices every run with it); pass --force to %s it, "
                        "or --out another file\n", fl[1].value, fl[8].value ? "update" : "replace");
        return 2;
    }
    EngineModel em;
    if (engine_model_load("calibrate", fl[0].value, &em)) return 1;
    char cpu[256], device[400], date[32], cmd[1024] = "elms calibrate";
    cpu_name(cpu, sizeof cpu);
    const char *thr = getenv("OPENBLAS_NUM_THREADS");
    snprintf(device, sizeof device, "%s, this engine (fp32, OpenBLAS, OPENBLAS_NUM_THREADS=%s)", cpu,
             thr ? thr : "unset");
    db_now_utc(date, sizeof date);
    for (int i = 1; i < argc; i++) {
        strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 1);
    }
    CalibConfig c = {.lengths = lengths, .n_lengths = n_len, .reps = (int)reps, .idle_ms = idle_ms, .decode_steps = (int)steps,
                     .seed = (unsigned long)seed, .name = fl[6].value, .device = device, .command = cmd,
                     .date = date};
    CalibResult r;
    Err e;
    int rc = 0;
    if (fl[8].value) { /* --tlm-only: the rest of the profile stays as it is */
        memset(&r, 0, sizeof r);
        if (profile_load(&r.prof, fl[1].value, &e) || calibrate_tlm(&em.model, fl[0].value, &c, &r, &e) ||
            profile_write(&r.prof, fl[1].value, &e)) {
            rc = cli_error("calibrate", "%s", e.msg);
        } else {
            printf("tlm a_ms %.6g b_ms_per_token %.6g c_ms_per_token2 %.6g params %.0f\n", r.prof.tlm_a, r.prof.tlm_b,
                   r.prof.tlm_c, r.prof.tlm_params);
            for (int i = 0; i < r.n_pts; i++)
                printf("tlm tokens %d measured_ms %.4f predicted_ms %.4f\n", r.pts[i].tokens, r.pts[i].measured_ms,
                       r.pts[i].predicted_ms);
            printf("wrote %s (tlm group)\n", fl[1].value);
        }
        calibrate_result_free(&r);
        goto out;
    }
    if (calibrate_run(&em.model, fl[0].value, &c, &r, &e)) {
        rc = cli_error("calibrate", "%s", e.msg);
        goto out;
    }
    if (profile_write(&r.prof, fl[1].value, &e)) {
        rc = cli_error("calibrate", "%s", e.msg);
        goto out_r;
    }
    if (fl[2].value) {
        Db db;
        if (db_open(&db, fl[2].value, &e)) {
            rc = cli_error("calibrate", "%s", e.msg);
            goto out_r;
        }
        for (int i = 0; i < r.n_pts && !rc; i++)
            if (db_calibration_add(&db, date, r.prof.name, fl[0].value, r.pts[i].phase, r.pts[i].level,
                                   r.pts[i].tokens, r.pts[i].measured_ms, r.pts[i].predicted_ms, &e))
                rc = cli_error("calibrate", "%s", e.msg);
        if (!rc && db_commit(&db, &e)) rc = cli_error("calibrate", "%s", e.msg);
        db_close(&db);
    }
    const Profile *p = &r.prof;
    printf("prefill a_ms %.6g weights_ms %.6g b0_ms_per_token %.6g b_ms_per_token %.6g c_ms_per_token2 %.6g "
           "adapter_ms_per_token %.6g gemm_min_rows %g few_rows_weights_ms %.6g few_rows_ms_per_token %.6g\n",
           p->prefill_a, p->prefill_w, p->prefill_b0, p->prefill_b, p->prefill_c, p->prefill_adapter,
           p->prefill_gemm_rows, p->prefill_few_w, p->prefill_few);
    printf("decode const_ms %.6g ms_per_byte_cache %.6g ms_per_byte_dram %.6g cache_bytes %.0f cache_sharpness %g "
           "(both fitted) ms_per_kv_byte %.6g adapter_ms %.6g adapter_dram_ms %.6g\n", p->decode_const,
           p->decode_cache, p->decode_dram, p->cache_bytes, p->cache_sharpness, p->decode_kv, p->decode_adapter,
           p->decode_adapter_dram);
    printf("decode warm-up warmup_ms %.6g warmup_cached_ms %.6g warmup_ms_per_cached_byte %.6g (rmse fitted %.3f ms, "
           "held-out %.3f ms)\n",
           p->warmup_ms, p->warmup_cached_ms, p->warmup_cached_byte_ms, p->fit_warmup_rmse_ms,
           p->fit_warmup_heldout_rmse_ms);
    printf("prefill mape fitted %.2f%% held-out %.2f%%\ndecode mape fitted %.2f%% held-out %.2f%%\n"
           "(%d fitted and %d held-out points per phase; %s)\n", p->fit_prefill_mape, p->fit_prefill_heldout_mape,
           p->fit_decode_mape, p->fit_decode_heldout_mape, p->fit_points, p->fit_heldout_points, p->fit_split);
    printf("tlm a_ms %.6g b_ms_per_token %.6g c_ms_per_token2 %.6g\nswitch view_ms %.6g\n", p->tlm_a, p->tlm_b, p->tlm_c,
           p->switch_view_ms);
    printf("wrote %s (%d points)\n", fl[1].value, r.n_pts);
    if (p->fit_prefill_mape >= 5 || p->fit_decode_mape >= 5 || p->fit_prefill_heldout_mape >= 5 ||
        p->fit_decode_heldout_mape >= 5)
        fprintf(stderr, "elms calibrate: warning: fit error at or above 5%%. On a shared machine it mostly follows how "
                        "closely the same points repeat, which more --reps do little for (README, \"What a "
                        "calibration's points repeat to\"; bin/elms-bench steady measures the machine's spread): "
                        "run it pinned to one core (taskset -c CPU, OPENBLAS_NUM_THREADS=1) when the machine is "
                        "quiet\n");
out_r:
    calibrate_result_free(&r);
out:
    engine_model_free(&em);
    return rc;
}

CLI_COMMAND("calibrate", "time the engine on this machine and fit the host latency profile", cmd_calibrate)
