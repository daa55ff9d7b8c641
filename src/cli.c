#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "confdir.h"
#include "config.h"
#include "ctl.h"
#include "flags.h"
#include "gen.h"
#include "genconf.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "pull.h"
#include "sdnotify.h"
#include "server.h"
#include "strv.h"
#include "tls.h"

#define DEFAULT_LISTEN "127.0.0.1:8091"

#ifndef GS_COMMIT
#define GS_COMMIT "unknown"
#endif

/* ---- serve ---- */

enum {
    F_CONFIG,
    F_CONFIG_DIR,
    F_LISTEN,
    F_WATCH,
    F_TLS_CERT,
    F_TLS_KEY,
    F_HOME,
    F_MODELS_DIR,
    F_LLAMA_SERVER,
    F_LOG_LEVEL,
    F_VERSION,
    F_HELP,
};

static const gs_flag_spec serve_flags[] = {
    [F_CONFIG] = {"config", "c", GS_FLAG_VALUE, false, "FILE  a llama-swap config to serve"},
    [F_CONFIG_DIR] = {"config-dir", NULL, GS_FLAG_VALUE, false,
                      "DIR  merge every *.yaml/*.yml in DIR (after -config)"},
    [F_LISTEN] = {"listen", "l", GS_FLAG_VALUE, false,
                  "ADDR  host:port or :port (default " DEFAULT_LISTEN ")"},
    [F_WATCH] = {"watch-config", "w", GS_FLAG_BOOL, false, "reload when the config changes"},
    [F_TLS_CERT] = {"tls-cert-file", NULL, GS_FLAG_VALUE, false,
                    "FILE  serve HTTPS with this PEM certificate (chain)"},
    [F_TLS_KEY] = {"tls-key-file", NULL, GS_FLAG_VALUE, false, "FILE  its PEM private key"},
    [F_HOME] = {"home", "H", GS_FLAG_VALUE, false,
                "DIR  integrated mode's home (default $GGSWAP_HOME or ~/.clara/ggswap)"},
    [F_MODELS_DIR] = {"models-dir", "m", GS_FLAG_VALUE, true,
                      "DIR  integrated mode: a folder of .gguf models"},
    [F_LLAMA_SERVER] = {"llama-server", "s", GS_FLAG_VALUE, false,
                        "PATH  integrated mode: the llama-server to run"},
    [F_LOG_LEVEL] = {"log-level", "L", GS_FLAG_VALUE, false,
                     "LEVEL  debug, info, warn or error (overrides logLevel)"},
    [F_VERSION] = {"version", "V", GS_FLAG_BOOL, false, "print the version and exit"},
    [F_HELP] = {"help", "h", GS_FLAG_BOOL, false, "this text"},
};

static const gs_flag_spec gen_flags[] = {
    {"home", NULL, GS_FLAG_VALUE, false, NULL},
    {"models-dir", NULL, GS_FLAG_VALUE, true, NULL},
    {"llama-server", NULL, GS_FLAG_VALUE, false, NULL},
    {"output", NULL, GS_FLAG_VALUE, false, NULL},
    {"help", "h", GS_FLAG_BOOL, false, NULL},
};

static const gs_flag_spec scan_flags[] = {
    {"models-dir", NULL, GS_FLAG_VALUE, true, NULL},
    {"home", NULL, GS_FLAG_VALUE, false, NULL},
    {"json", NULL, GS_FLAG_BOOL, false, NULL},
    {"help", "h", GS_FLAG_BOOL, false, NULL},
};

static const gs_flag_spec ctl_flags[] = {
    {"url", "u", GS_FLAG_VALUE, false, NULL},
    {"json", "j", GS_FLAG_BOOL, false, NULL},
    {"help", "h", GS_FLAG_BOOL, false, NULL},
};

typedef struct serve_opts {
    const char *config;
    const char *config_dir;
    const char *listen;
    const char *home;
    const char **dirs;
    int ndirs;
    const char *llama_server;
    bool watch;
    const char *log_level;
    const char *tls_cert;
    const char *tls_key;
} serve_opts;

static serve_opts g_opts;

static void print_version(void)
{
    printf("ggswap %s (%s)\n", GS_VERSION, GS_COMMIT);
}

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  ggswap [serve] [-config FILE] [-config-dir DIR] [-listen ADDR] [-watch-config]\n"
          "                 [-tls-cert-file FILE -tls-key-file FILE] [-log-level LEVEL]\n"
          "                 [-home DIR] [-models-dir DIR]... [-llama-server PATH]\n"
          "  ggswap config generate [--home DIR] [--models-dir DIR]... [--llama-server PATH]\n"
          "                 [--output FILE|-]\n"
          "  ggswap config check FILE\n"
          "  ggswap scan [--models-dir DIR]... [--json]\n"
          "  ggswap ctl [--url URL] status|start|stop|restart|regenerate|models|ps|load MODEL|"
          "unload [MODEL]\n"
          "  ggswap version\n"
          "  ggswap pull REF [--models-dir DIR] [--quant QUANT]\n"
          "Flags take one or two dashes and '-flag VALUE' or '-flag=VALUE', as llama-swap's.\n",
          f);
}

static void serve_usage(FILE *f)
{
    fputs("usage: ggswap [serve] [flags]\n"
          "Serves a llama-swap config (-config and/or -config-dir), or, without one, the\n"
          "models found in the model folders (integrated mode).\n"
          "flags:\n",
          f);
    gs_flags_usage(serve_flags, (int)GS_ARRAY_LEN(serve_flags), f);
}


/* Integrated mode: scan and write config.yaml; remember what the page shows. With cfg, also the
 * config built in memory from the plan (genconf.h: no re-reading of the file; NULL when it could
 * not be built, and the caller loads the file). With listen, settings.yaml's listen (or NULL):
 * the file is read once, here. */
static int regenerate_into(gs_server *s, char **msg, gs_config **cfg, char **listen)
{
    gs_gen_opts o = {
        .home = g_opts.home,
        .models_dirs = g_opts.dirs,
        .nmodels_dirs = g_opts.ndirs,
        .llama_server = g_opts.llama_server,
        .keep_plan = cfg != NULL,
    };
    gs_gen_result r;
    memset(&r, 0, sizeof r);
    int rc = gs_gen_integrated(&o, &r);
    if (rc < 0) {
        if (msg)
            *msg = gs_mem_strdup(r.error ? r.error : "cannot generate the config");
        goto out;
    }
    if (cfg && r.plan) {
        gs_diag d = {0};
        if (gs_genconf_build(r.plan, r.text, r.config_path, cfg, &d) < 0) {
            char *all = gs_diag_join(&d);
            gs_warn("the generated config could not be built in memory, reading %s instead: %s",
                    r.config_path, all);
            free(all);
        }
        for (int i = 0; i < d.n && *cfg; i++)
            gs_warn("%s", d.msgs[i]);
        gs_diag_free(&d);
    }
    gs_server_set_problems(s, gs_strv_dup(r.problems, r.nproblems), r.nproblems);
    for (int i = 0; i < r.nproblems; i++)
        gs_warn("%s", r.problems[i]);
    for (int i = 0; i < s->nmodels_dirs; i++)
        free(s->models_dirs[i]);
    free(s->models_dirs);
    s->models_dirs = gs_strv_dup(r.dirs, r.ndirs);
    s->nmodels_dirs = r.ndirs;
    free(s->llama_server);
    s->llama_server = r.llama_server ? gs_mem_strdup(r.llama_server) : NULL;
    free(s->config_path);
    s->config_path = gs_mem_strdup(r.config_path);
    if (listen)
        *listen = r.listen ? gs_mem_strdup(r.listen) : NULL;
out:
    gs_gen_result_free(&r);
    return rc;
}

static int regenerate(gs_server *s, gs_config **cfg, char **msg)
{
    return regenerate_into(s, msg, cfg, NULL);
}

/* Flags into g_opts. Returns -1 to go on, else the exit code (help, version, usage error). */
static int serve_parse(int argc, char **argv, gs_flags *fl)
{
    char err[256];
    if (gs_flags_parse(serve_flags, (int)GS_ARRAY_LEN(serve_flags), argc, argv, fl, err,
                       sizeof err) < 0) {
        fprintf(stderr, "ggswap: %s (ggswap -help lists the flags)\n", err);
        return 2;
    }
    if (gs_flags_on(fl, F_HELP)) {
        serve_usage(stdout);
        return 0;
    }
    if (gs_flags_on(fl, F_VERSION)) {
        print_version();
        return 0;
    }
    if (fl->nargs) {
        fprintf(stderr,
                "ggswap serve: unexpected argument '%s' (flags need a dash: -config FILE; "
                "ggswap -help lists them)\n",
                fl->args[0]);
        return 2;
    }
    memset(&g_opts, 0, sizeof g_opts);
    g_opts.config = gs_flags_get(fl, F_CONFIG);
    g_opts.config_dir = gs_flags_get(fl, F_CONFIG_DIR);
    g_opts.listen = gs_flags_get(fl, F_LISTEN);
    g_opts.home = gs_flags_get(fl, F_HOME);
    g_opts.llama_server = gs_flags_get(fl, F_LLAMA_SERVER);
    g_opts.watch = gs_flags_on(fl, F_WATCH);
    g_opts.log_level = gs_flags_get(fl, F_LOG_LEVEL);
    g_opts.tls_cert = gs_flags_get(fl, F_TLS_CERT);
    g_opts.tls_key = gs_flags_get(fl, F_TLS_KEY);
    g_opts.dirs = gs_mem_calloc((size_t)fl->nvals + 1, sizeof *g_opts.dirs);
    for (int i = 0; i < fl->nvals; i++)
        if (fl->vals[i].flag == F_MODELS_DIR)
            g_opts.dirs[g_opts.ndirs++] = fl->vals[i].value;
    static const int not_empty[] = {F_CONFIG, F_CONFIG_DIR, F_LISTEN, F_TLS_CERT, F_TLS_KEY};
    for (size_t i = 0; i < GS_ARRAY_LEN(not_empty); i++) {
        const char *v = gs_flags_get(fl, not_empty[i]);
        if (v && !*v) {
            fprintf(stderr, "ggswap: -%s needs a value (it is empty)\n",
                    serve_flags[not_empty[i]].name);
            return 2;
        }
    }
    if (!g_opts.tls_cert != !g_opts.tls_key) {
        fprintf(stderr, "ggswap: HTTPS needs both -tls-cert-file and -tls-key-file (got only %s)\n",
                g_opts.tls_cert ? "-tls-cert-file" : "-tls-key-file");
        return 2;
    }
    if (g_opts.tls_cert) {
        /* Check the files now: a bad one must stop ggswap before anything starts. */
        char terr[512];
        gs_tls_ctx *ctx = gs_tls_ctx_new(g_opts.tls_cert, g_opts.tls_key, terr, sizeof terr);
        if (!ctx) {
            fprintf(stderr, "ggswap: %s\n", terr);
            return 2;
        }
        gs_tls_ctx_free(ctx);
    }
    return -1;
}

static int serve_main(int argc, char **argv)
{
    int rc = 0;
    gs_server srv;
    memset(&srv, 0, sizeof srv);
    gs_config *cfg = NULL;
    char *listen = NULL;
    gs_flags fl;
    uv_loop_t *loop = uv_default_loop();
    rc = serve_parse(argc - 1, argv + 1, &fl);
    if (rc >= 0)
        goto out;
    rc = 0;
    gs_log_set_journal(gs_sd_stderr_is_journal());
    if (g_opts.log_level) {
        gs_log_level lvl;
        if (gs_log_parse_level(g_opts.log_level, &lvl) < 0) {
            fprintf(stderr, "ggswap: -log-level must be debug, info, warn or error (got '%s')\n",
                    g_opts.log_level);
            rc = 2;
            goto out;
        }
        gs_log_set_level(lvl);
        srv.log_level_forced = true;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        gs_proc_set_shim(self);
    }
    /* A dead client must not kill the daemon with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    gs_diag d = {0};
    srv.home = gs_gen_home(g_opts.home); /* the slot cache's folder, in both modes */
    if (g_opts.config || g_opts.config_dir) {
        if (g_opts.config) {
            srv.config_path = realpath(g_opts.config, NULL);
            if (!srv.config_path)
                srv.config_path = gs_mem_strdup(g_opts.config);
        }
        if (g_opts.config_dir) {
            srv.config_dir = realpath(g_opts.config_dir, NULL);
            if (!srv.config_dir)
                srv.config_dir = gs_mem_strdup(g_opts.config_dir);
        }
    } else {
        srv.integrated = true;
        srv.regenerate = regenerate;
        char *msg = NULL;
        if (regenerate_into(&srv, &msg, &cfg, &listen) < 0) {
            fprintf(stderr, "ggswap: %s\n", msg ? msg : "cannot generate the config");
            free(msg);
            rc = 2;
            goto out;
        }
    }
    int lrc = cfg ? 0 : gs_confdir_load(srv.config_path, srv.config_dir, &cfg, &d);
    if (d.n) {
        char *all = gs_diag_join(&d);
        fprintf(stderr, "%s\n", all);
        free(all);
    }
    gs_diag_free(&d);
    if (lrc < 0) {
        if (lrc == -ENOENT && srv.config_path && !srv.config_dir)
            fprintf(stderr, "ggswap: cannot read %s: %s\n", srv.config_path, strerror(-lrc));
        rc = 2;
        goto out;
    }
    if (g_opts.listen) {
        free(listen); /* the flag wins over settings.yaml's listen */
        listen = gs_mem_strdup(g_opts.listen);
    } else if (!listen) {
        listen = gs_mem_strdup(DEFAULT_LISTEN);
    }
    if (!srv.integrated)
        srv.nmodels_dirs = 0;
    if (strncmp(listen, "127.", 4) != 0 && strncmp(listen, "localhost:", 10) != 0 &&
        strncmp(listen, "[::1]:", 6) != 0 && cfg->napi_keys == 0)
        gs_warn("listening on %s, beyond this machine, with no apiKeys: anyone who can reach "
                "the port can use and control every model. Add apiKeys to the config or listen "
                "on 127.0.0.1.",
                listen);
    if (g_opts.tls_cert) {
        srv.tls_cert = gs_mem_strdup(g_opts.tls_cert);
        srv.tls_key = gs_mem_strdup(g_opts.tls_key);
    }
    int src = gs_server_start(&srv, loop, cfg, listen);
    cfg = NULL; /* the server owns it now */
    if (src < 0) {
        rc = 1;
        gs_server_shutdown(&srv);
        uv_run(loop, UV_RUN_DEFAULT);
        goto out;
    }
    if (g_opts.watch)
        gs_server_watch_config(&srv);
    char ready[512];
    snprintf(ready, sizeof ready, "READY=1\nSTATUS=listening on %s (%d models)\nMAINPID=%d",
             listen, srv.cfg->nmodels, (int)getpid());
    if (gs_sd_notify(ready) < 0)
        gs_warn("cannot tell systemd that ggswap is ready ($NOTIFY_SOCKET=%s)",
                getenv("NOTIFY_SOCKET"));
    uv_run(loop, UV_RUN_DEFAULT);
    gs_info("ggswap stopped");
out:
    gs_config_free(cfg);
    gs_server_cleanup(&srv);
    free(listen);
    free(g_opts.dirs);
    g_opts.dirs = NULL;
    gs_flags_free(&fl);
    gs_proc_set_shim(NULL);
    uv_loop_close(loop);
    return rc;
}

/* ---- the other commands: their own parsers, fed the Go forms as --name ---- */

typedef struct cli_cmd {
    const char *name; /* "config check": two words match argv[1] and argv[2] */
    int (*main)(int argc, char **argv); /* argv[0] is the (last) command word */
    const gs_flag_spec *flags;          /* normalized for main; NULL: main reads raw argv */
    int nflags;
} cli_cmd;

static int version_main(int argc, char **argv)
{
    print_version();
    return 0;
}

static int help_main(int argc, char **argv)
{
    usage(stdout);
    return 0;
}

/* `config check FILE`, and `config check [FILE] -config-dir DIR` for split configs. */
static int check_main(int argc, char **argv)
{
    static const gs_flag_spec spec[] = {
        {"config-dir", NULL, GS_FLAG_VALUE, false, NULL},
        {"config", "c", GS_FLAG_VALUE, false, NULL},
    };
    gs_flags fl;
    char err[256];
    int rc = 2;
    if (gs_flags_parse(spec, 2, argc - 1, argv + 1, &fl, err, sizeof err) < 0) {
        fprintf(stderr, "ggswap config check: %s\n", err);
        goto out;
    }
    const char *dir = gs_flags_get(&fl, 0);
    const char *file = fl.nargs ? fl.args[0] : gs_flags_get(&fl, 1);
    if (!dir && !gs_flags_get(&fl, 1)) {
        rc = gs_config_check_main(argc, argv);
        goto out;
    }
    if (fl.nargs > 1 || (!dir && !file)) {
        fprintf(stderr, "usage: ggswap config check FILE | [FILE] -config-dir DIR\n");
        goto out;
    }
    gs_diag d = {0};
    gs_config *c = NULL;
    int lrc = gs_confdir_load(file, dir, &c, &d);
    for (int i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    if (lrc == 0)
        printf("%s%s%s: ok (%d models, %d groups)\n", file ? file : "", file && dir ? " + " : "",
               dir ? dir : "", c->nmodels, c->ngroups);
    fflush(stdout);
    gs_config_free(c);
    gs_diag_free(&d);
    rc = lrc == 0 ? 0 : 2;
out:
    gs_flags_free(&fl);
    return rc;
}

#define FLAGS(t) t, (int)GS_ARRAY_LEN(t)

static const cli_cmd commands[] = {
    {"serve", serve_main, NULL, 0},
    {"config check", check_main, NULL, 0},
    {"config generate", gs_gen_main, FLAGS(gen_flags)},
    {"scan", gs_scan_main, FLAGS(scan_flags)},
    {"ctl", gs_ctl_main, FLAGS(ctl_flags)},
    {"pull", gs_pull_main, NULL, 0}, /* getopt_long_only: reads -flag and --flag itself */
    {"version", version_main, NULL, 0},
    {"help", help_main, NULL, 0},
};

static int run_cmd(const cli_cmd *c, int argc, char **argv)
{
    if (!c->flags)
        return c->main(argc, argv);
    char **norm = gs_flags_normalize(c->flags, c->nflags, argc, argv);
    int rc = c->main(argc, norm);
    gs_strv_free(norm);
    return rc;
}

int gs_cli_main(int argc, char **argv)
{
    /* No command, or flags first: serve, as llama-swap's `llama-swap -config F`. */
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
                          strcmp(argv[1], "-help") == 0)) {
            usage(stdout);
            return 0;
        }
        return serve_main(argc, argv);
    }
    for (size_t i = 0; i < GS_ARRAY_LEN(commands); i++) {
        const cli_cmd *c = &commands[i];
        const char *sp = strchr(c->name, ' ');
        if (!sp && strcmp(argv[1], c->name) == 0)
            return run_cmd(c, argc - 1, argv + 1);
        if (sp && strlen(argv[1]) == (size_t)(sp - c->name) &&
            strncmp(argv[1], c->name, (size_t)(sp - c->name)) == 0 && argc >= 3 &&
            strcmp(argv[2], sp + 1) == 0)
            return run_cmd(c, argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "config") == 0) {
        fprintf(stderr, "ggswap config: expected 'check FILE' or 'generate [...]'\n");
        usage(stderr);
        return 2;
    }
    fprintf(stderr, "ggswap: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
