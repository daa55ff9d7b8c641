/* ggswap: the command line. Dispatches to serve (the daemon), config check/generate, scan,
 * ctl and version; `__child` is the internal shim that starts model processes. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "ctl.h"
#include "gen.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "pull.h"
#include "server.h"

#define DEFAULT_LISTEN "127.0.0.1:8091"

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  ggswap [serve] [--config FILE] [--listen ADDR] [--home DIR] [--models-dir DIR]...\n"
          "                 [--llama-server PATH] [--watch-config] [--log-level LEVEL]\n"
          "  ggswap config generate [--home DIR] [--models-dir DIR]... [--llama-server PATH]\n"
          "                 [--output FILE|-]\n"
          "  ggswap config check FILE\n"
          "  ggswap scan [--models-dir DIR]... [--json]\n"
          "  ggswap ctl [--url URL] status|start|stop|restart|regenerate|models|load MODEL|"
          "unload [MODEL]\n"
          "  ggswap version\n"
          "  ggswap pull REF [--models-dir DIR] [--quant QUANT]\n",
          f);
}

typedef struct serve_opts {
    const char *config;
    const char *listen;
    const char *home;
    const char **dirs;
    int ndirs;
    const char *llama_server;
    bool watch;
    const char *log_level;
} serve_opts;

static serve_opts g_opts;

static char **strv_dup(char **v, int n)
{
    char **out = gs_mem_calloc((size_t)n + 1, sizeof *out);
    for (int i = 0; i < n; i++)
        out[i] = gs_mem_strdup(v[i]);
    return out;
}

/* Integrated mode: scan and write config.yaml; remember what the page shows. */
static int regenerate(gs_server *s, char **msg)
{
    gs_gen_opts o = {
        .home = g_opts.home,
        .models_dirs = g_opts.dirs,
        .nmodels_dirs = g_opts.ndirs,
        .llama_server = g_opts.llama_server,
    };
    gs_gen_result r;
    memset(&r, 0, sizeof r);
    int rc = gs_gen_integrated(&o, &r);
    if (rc < 0) {
        if (msg)
            *msg = gs_mem_strdup(r.error ? r.error : "cannot generate the config");
        goto out;
    }
    gs_server_set_problems(s, strv_dup(r.problems, r.nproblems), r.nproblems);
    for (int i = 0; i < r.nproblems; i++)
        gs_warn("%s", r.problems[i]);
    for (int i = 0; i < s->nmodels_dirs; i++)
        free(s->models_dirs[i]);
    free(s->models_dirs);
    s->models_dirs = strv_dup(r.dirs, r.ndirs);
    s->nmodels_dirs = r.ndirs;
    free(s->llama_server);
    s->llama_server = r.llama_server ? gs_mem_strdup(r.llama_server) : NULL;
    free(s->config_path);
    s->config_path = gs_mem_strdup(r.config_path);
out:
    gs_gen_result_free(&r);
    return rc;
}

static int serve_main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"config", required_argument, 0, 'c'},    {"listen", required_argument, 0, 'l'},
        {"home", required_argument, 0, 'H'},      {"models-dir", required_argument, 0, 'm'},
        {"llama-server", required_argument, 0, 's'}, {"watch-config", no_argument, 0, 'w'},
        {"log-level", required_argument, 0, 'L'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int rc = 0, c;
    gs_server srv;
    memset(&srv, 0, sizeof srv);
    gs_config *cfg = NULL;
    char *listen = NULL;
    uv_loop_t *loop = uv_default_loop();
    g_opts.dirs = gs_mem_calloc((size_t)argc + 1, sizeof *g_opts.dirs);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:l:H:m:s:wL:h", lo, NULL)) != -1) {
        switch (c) {
        case 'c': g_opts.config = optarg; break;
        case 'l': g_opts.listen = optarg; break;
        case 'H': g_opts.home = optarg; break;
        case 'm': g_opts.dirs[g_opts.ndirs++] = optarg; break;
        case 's': g_opts.llama_server = optarg; break;
        case 'w': g_opts.watch = true; break;
        case 'L': g_opts.log_level = optarg; break;
        case 'h': usage(stdout); rc = 0; goto out;
        default: usage(stderr); rc = 2; goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ggswap serve: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        rc = 2;
        goto out;
    }
    if (g_opts.log_level) {
        gs_log_level lvl;
        if (gs_log_parse_level(g_opts.log_level, &lvl) < 0) {
            fprintf(stderr, "ggswap: --log-level must be debug, info, warn or error (got '%s')\n",
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
    if (g_opts.config) {
        srv.config_path = realpath(g_opts.config, NULL);
        if (!srv.config_path)
            srv.config_path = gs_mem_strdup(g_opts.config);
    } else {
        srv.integrated = true;
        srv.regenerate = regenerate;
        char *msg = NULL;
        if (regenerate(&srv, &msg) < 0) {
            fprintf(stderr, "ggswap: %s\n", msg ? msg : "cannot generate the config");
            free(msg);
            rc = 2;
            goto out;
        }
    }
    int lrc = gs_config_load(srv.config_path, &cfg, &d);
    if (d.n) {
        char *all = gs_diag_join(&d);
        fprintf(stderr, "%s\n", all);
        free(all);
    }
    gs_diag_free(&d);
    if (lrc < 0) {
        if (lrc == -ENOENT)
            fprintf(stderr, "ggswap: cannot read %s: %s\n", srv.config_path, strerror(-lrc));
        rc = 2;
        goto out;
    }
    if (g_opts.listen) {
        listen = gs_mem_strdup(g_opts.listen);
    } else if (srv.integrated) {
        gs_settings st;
        gs_settings_init(&st);
        gs_diag sd = {0};
        char *home = gs_gen_home(g_opts.home);
        char *sp = gs_mem_printf("%s/settings.yaml", home);
        gs_settings_load(sp, &st, &sd);
        listen = gs_mem_strdup(st.listen ? st.listen : DEFAULT_LISTEN);
        gs_settings_free(&st);
        gs_diag_free(&sd);
        free(sp);
        free(home);
    } else {
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
    uv_run(loop, UV_RUN_DEFAULT);
    gs_info("ggswap stopped");
out:
    gs_config_free(cfg);
    gs_server_cleanup(&srv);
    free(listen);
    free(g_opts.dirs);
    gs_proc_set_shim(NULL);
    uv_loop_close(loop);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "__child") == 0)
        return gs_proc_shim_main(argc - 1, argv + 1);
    if (argc < 2)
        return serve_main(argc, argv);
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    if (cmd[0] == '-') {
        if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
            printf("ggswap %s\n", GS_VERSION);
            return 0;
        }
        return serve_main(argc, argv);
    }
    if (strcmp(cmd, "version") == 0) {
        printf("ggswap %s\n", GS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "config") == 0) {
        if (argc >= 3 && strcmp(argv[2], "check") == 0)
            return gs_config_check_main(argc - 2, argv + 2);
        if (argc >= 3 && strcmp(argv[2], "generate") == 0)
            return gs_gen_main(argc - 2, argv + 2);
        fprintf(stderr, "ggswap config: expected 'check FILE' or 'generate [...]'\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "scan") == 0)
        return gs_scan_main(argc - 1, argv + 1);
    if (strcmp(cmd, "ctl") == 0)
        return gs_ctl_main(argc - 1, argv + 1);
    if (strcmp(cmd, "pull") == 0)
        return gs_pull_main(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ggswap: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
