/* pull: `ggswap pull` on the command line (see pull.h). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "download.h"
#include "gen.h"
#include "log.h"
#include "mem.h"
#include "pull.h"
#include "scan.h"
#include "strv.h"

static const char usage_text[] =
    "usage: ggswap pull REF [--models-dir DIR] [--quant QUANT] [--home DIR]\n"
    "  REF: org/repo (Q4_K_M when the repo has it), org/repo:QUANT, org/repo/path/file.gguf,\n"
    "       hf.co/org/repo[:QUANT], or an https:// URL of a .gguf\n"
    "  The Hub is $HF_ENDPOINT (default https://huggingface.co); the token for gated or\n"
    "  private repos is $HF_TOKEN or hfToken in settings.yaml.\n";

static void fmt_size(char *b, size_t n, double v)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(b, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

void gs_pull_progress_line(char *out, size_t len, const char *name, int64_t done, int64_t total,
                           double speed, int width)
{
    char d[32], t[32], sp[32], eta[32] = "";
    fmt_size(d, sizeof d, (double)done);
    fmt_size(sp, sizeof sp, speed);
    if (total > 0 && speed > 0 && done <= total) {
        long s = (long)((double)(total - done) / speed);
        if (s >= 3600)
            snprintf(eta, sizeof eta, "  %ld:%02ld:%02ld left", s / 3600, s / 60 % 60, s % 60);
        else
            snprintf(eta, sizeof eta, "  %ld:%02ld left", s / 60, s % 60);
    }
    if (total <= 0) {
        snprintf(out, len, "%s  %s  %s/s", name, d, sp);
        return;
    }
    fmt_size(t, sizeof t, (double)total);
    int pct = (int)(done * 100 / total);
    if (pct > 100)
        pct = 100;
    char bar[64];
    int bw = width > 0 && width < (int)sizeof bar - 1 ? width : 24;
    int fill = pct * bw / 100;
    for (int i = 0; i < bw; i++)
        bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[bw] = 0;
    snprintf(out, len, "%s  %3d%% [%s] %s / %s  %s/s%s", name, pct, bar, d, t, sp, eta);
}

typedef struct pull_ctx {
    gs_dl_mgr *m;
    gs_dl_job *job;
    bool tty;
    int last_decile;
    bool drawn;
    uv_timer_t quit;
    uv_loop_t *loop;
    /* what the job said when it ended (the job is freed with the manager right after) */
    gs_dl_state final;
    char *error;
    char **paths;
    int npaths;
} pull_ctx;

static void on_quit(uv_timer_t *t)
{
    pull_ctx *c = t->data;
    gs_dl_mgr_free(c->m);
    c->m = NULL;
    uv_close((uv_handle_t *)t, NULL);
}

static void on_change(gs_dl_job *j, void *ud)
{
    pull_ctx *c = ud;
    gs_dl_state st = gs_dl_job_state(j);
    int64_t done = gs_dl_job_done(j), total = gs_dl_job_total(j);
    if (st == GS_DL_DOWNLOADING || st == GS_DL_VERIFYING) {
        if (c->tty) {
            char line[300];
            gs_pull_progress_line(line, sizeof line, gs_dl_job_file(j), done, total,
                                  gs_dl_job_speed(j), 24);
            fprintf(stderr, "\r\033[K%s%s", line, st == GS_DL_VERIFYING ? "  verifying" : "");
            c->drawn = true;
        } else if (total > 0) {
            int dec = (int)(done * 10 / total);
            if (dec > c->last_decile) {
                char d[32], t[32];
                fmt_size(d, sizeof d, (double)done);
                fmt_size(t, sizeof t, (double)total);
                fprintf(stderr, "pull %s: %d%% (%s of %s)\n", gs_dl_job_file(j), dec * 10, d, t);
                c->last_decile = dec;
            }
        }
    }
    if (st == GS_DL_DONE || st == GS_DL_FAILED || st == GS_DL_CANCELLED) {
        if (c->drawn)
            fputs("\n", stderr);
        c->drawn = false;
        c->final = st;
        if (gs_dl_job_error(j) && !c->error)
            c->error = gs_mem_strdup(gs_dl_job_error(j));
        const char *p;
        for (int i = 0; !c->paths && (p = gs_dl_job_path(j, i)); i++) {
            c->paths = gs_mem_realloc(c->paths, (size_t)(i + 1) * sizeof *c->paths);
            c->paths[i] = gs_mem_strdup(p);
            c->npaths = i + 1;
        }
        if (!uv_is_active((uv_handle_t *)&c->quit))
            uv_timer_start(&c->quit, on_quit, 0, 0);
    }
}

static int mkdir_p(const char *dir)
{
    char *d = gs_mem_strdup(dir);
    int rc = 0;
    for (char *p = d + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(d, 0755) < 0 && errno != EEXIST)
            rc = -errno;
        *p = '/';
    }
    if (rc == 0 && mkdir(d, 0755) < 0 && errno != EEXIST)
        rc = -errno;
    free(d);
    return rc;
}

int gs_pull_main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"models-dir", required_argument, 0, 'm'}, {"quant", required_argument, 0, 'q'},
        {"home", required_argument, 0, 'H'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *dir_opt = NULL, *quant = NULL, *home_opt = NULL;
    int c, rc = 1;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long_only(argc, argv, "m:q:H:h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': dir_opt = optarg; break;
        case 'q': quant = optarg; break;
        case 'H': home_opt = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ggswap pull: %s\n%s",
                optind >= argc ? "which model? give one REF" : "give exactly one REF",
                usage_text);
        return 2;
    }
    const char *ref = argv[optind];

    gs_settings st;
    gs_settings_init(&st);
    gs_diag sd = {0};
    char *home = gs_gen_home(home_opt);
    char *sp = gs_mem_printf("%s/settings.yaml", home);
    gs_settings_load(sp, &st, &sd);
    gs_diag_free(&sd);
    char *dir = NULL;
    if (dir_opt) {
        dir = gs_scan_expand_home(dir_opt);
    } else if (st.nmodels_dirs > 0) {
        dir = gs_mem_strdup(st.models_dirs[0]);
    } else {
        int nd = 0;
        char **dd = gs_scan_default_dirs(&nd);
        dir = gs_mem_strdup(nd > 0 ? dd[0] : ".");
        gs_strv_free(dd);
    }
    int mrc = mkdir_p(dir);
    if (mrc < 0) {
        fprintf(stderr, "ggswap pull: cannot create the model folder %s: %s\n", dir,
                strerror(-mrc));
        goto out;
    }
    const char *env_tok = getenv("HF_TOKEN");
    bool use_env = env_tok && *env_tok;
    gs_log_set_level(GS_LOG_WARN);

    pull_ctx ctx = {.tty = isatty(2) != 0, .last_decile = 0};
    ctx.loop = gs_mem_calloc(1, sizeof *ctx.loop);
    uv_loop_init(ctx.loop);
    uv_timer_init(ctx.loop, &ctx.quit);
    ctx.quit.data = &ctx;
    gs_dl_opts o = {
        .token = use_env ? env_tok : st.hf_token,
        .token_from = use_env ? "$HF_TOKEN" : "hfToken in settings.yaml",
        .on_change = on_change,
        .ud = &ctx,
    };
    ctx.m = gs_dl_mgr_new(ctx.loop, &o);
    char err[900];
    if (gs_dl_pull(ctx.m, ref, quant, dir, &ctx.job, err, sizeof err) < 0) {
        fprintf(stderr, "ggswap pull: %s\n", err);
        rc = 2;
        gs_dl_mgr_free(ctx.m);
        uv_close((uv_handle_t *)&ctx.quit, NULL);
        uv_run(ctx.loop, UV_RUN_DEFAULT);
        uv_loop_close(ctx.loop);
        free(ctx.loop);
        goto out;
    }
    uv_run(ctx.loop, UV_RUN_DEFAULT);
    uv_loop_close(ctx.loop);
    free(ctx.loop);
    if (ctx.final == GS_DL_DONE) {
        for (int i = 0; i < ctx.npaths; i++)
            printf("%s\n", ctx.paths[i]);
        fprintf(stderr, "ggswap pull: %s: %d file%s complete and verified in %s\n", ref,
                ctx.npaths, ctx.npaths == 1 ? "" : "s", dir);
        rc = 0;
    } else {
        fprintf(stderr, "ggswap pull: %s: %s\n", ref,
                ctx.error ? ctx.error : "the pull did not finish");
        rc = 1;
    }
    free(ctx.error);
    for (int i = 0; i < ctx.npaths; i++)
        free(ctx.paths[i]);
    free(ctx.paths);
out:
    gs_settings_free(&st);
    free(sp);
    free(home);
    free(dir);
    return rc;
}
