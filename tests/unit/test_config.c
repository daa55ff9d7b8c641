#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confdir.h"
#include "config.h"
#include "mem.h"

static gs_config *C;
static gs_diag D;

static void fini(void)
{
    gs_config_free(C);
    C = NULL;
    gs_diag_free(&D);
}

TestSuite(config, .fini = fini);

static int parse(const char *yaml)
{
    gs_config_free(C);
    C = NULL;
    gs_diag_free(&D);
    return gs_config_parse(yaml, strlen(yaml), "t.yaml", &C, &D);
}

static bool has(const char *line)
{
    for (int i = 0; i < D.n; i++)
        if (strcmp(D.msgs[i], line) == 0)
            return true;
    return false;
}

static const char *all(void)
{
    static char buf[8192];
    buf[0] = 0;
    for (int i = 0; i < D.n; i++) {
        strncat(buf, D.msgs[i], sizeof(buf) - strlen(buf) - 2);
        strcat(buf, "\n");
    }
    return buf;
}

#define HAS(line) cr_assert(has(line), "missing diagnostic:\n  %s\ngot:\n%s", line, all())
#define OK(yaml)                                                                        \
    do {                                                                                \
        int rc_ = parse(yaml);                                                          \
        cr_assert_eq(rc_, 0, "parse failed (%d):\n%s", rc_, all());                     \
        cr_assert_not_null(C);                                                          \
    } while (0)
#define FAILS(yaml)                                                                     \
    do {                                                                                \
        int rc_ = parse(yaml);                                                          \
        cr_assert_eq(rc_, -EINVAL, "parse should fail, rc %d:\n%s", rc_, all());        \
        cr_assert_null(C);                                                              \
        cr_assert_gt(D.errors, 0);                                                      \
    } while (0)

static const gs_model_cfg *M(const char *id)
{
    int i = gs_config_find(C, id);
    cr_assert_geq(i, 0, "no model %s", id);
    return &C->models[i];
}

/* ------------------------------------------------------------------ defaults and keys */

Test(config, defaults)
{
    OK("models:\n"
       "  m:\n"
       "    cmd: llama-server --port ${PORT} -m /x.gguf\n");
    cr_assert_eq(D.n, 0, "%s", all());
    cr_assert_str_eq(C->path, "t.yaml");
    cr_assert_eq(C->health_check_timeout, 120);
    cr_assert_str_eq(C->log_level, "info");
    cr_assert_eq(C->start_port, 5800);
    cr_assert_eq(C->global_ttl, 0);
    cr_assert_eq(C->napi_keys, 0);
    cr_assert_eq(C->npreload, 0);
    cr_assert_eq(C->nmodels, 1);
    const gs_model_cfg *m = &C->models[0];
    cr_assert_str_eq(m->id, "m");
    cr_assert_eq(m->line, 2);
    cr_assert_str_eq(m->cmd, "llama-server --port 5800 -m /x.gguf");
    cr_assert_eq(m->argc, 5);
    cr_assert_str_eq(m->argv[0], "llama-server");
    cr_assert_str_eq(m->argv[2], "5800");
    cr_assert_null(m->argv[5]);
    cr_assert_null(m->cmd_stop);
    cr_assert_str_eq(m->proxy, "http://localhost:5800");
    cr_assert_str_eq(m->proxy_host, "localhost");
    cr_assert_eq(m->proxy_port, 5800);
    cr_assert_str_eq(m->check_endpoint, "/health");
    cr_assert_eq(m->ttl, 0);
    cr_assert_eq(m->unlisted, false);
    cr_assert_null(m->use_model_name);
    cr_assert_eq(m->naliases, 0);
    cr_assert_eq(m->nenv, 0);
    cr_assert_eq(m->nstrip, 0);
    cr_assert_null(m->set_params);
    cr_assert_eq(m->concurrency_limit, 10);
    cr_assert_null(m->name);
    cr_assert_null(m->description);
    cr_assert_null(m->metadata);
    cr_assert_eq(C->ngroups, 1);
    cr_assert_str_eq(C->groups[0].id, "(default)");
    cr_assert(C->groups[0].swap);
    cr_assert(C->groups[0].exclusive);
    cr_assert_not(C->groups[0].persistent);
    cr_assert_eq(C->groups[0].nmembers, 1);
    cr_assert_eq(C->groups[0].members[0], 0);
    cr_assert_eq(m->group, 0);
}

Test(config, empty_file_and_no_models)
{
    OK("");
    cr_assert_eq(C->nmodels, 0);
    cr_assert_eq(C->ngroups, 0);
    OK("# only a comment\n");
    cr_assert_eq(C->nmodels, 0);
    OK("healthCheckTimeout: 60\nmodels:\n");
    cr_assert_eq(C->nmodels, 0);
    cr_assert_eq(C->health_check_timeout, 60);
}

Test(config, every_model_key)
{
    OK("models:\n"
       "  full:\n"
       "    cmd: |\n"
       "      # comment line\n"
       "      /bin/server \\\n"
       "        --port ${PORT}\n"
       "    cmdStop: kill -TERM ${PID}\n"
       "    proxy: http://127.0.0.1:${PORT}/\n"
       "    aliases: [f1, \"f 2\"]\n"
       "    env:\n"
       "      - CUDA_VISIBLE_DEVICES=0\n"
       "      - EMPTY=\n"
       "      - X=a=b\n"
       "    checkEndpoint: /v1/models\n"
       "    ttl: 300\n"
       "    unlisted: true\n"
       "    useModelName: upstream-name\n"
       "    concurrencyLimit: 3\n"
       "    name: Full Model\n"
       "    description: does everything\n"
       "    metadata: {a: 1}\n"
       "    filters:\n"
       "      stripParams: top_k\n"
       "      setParams: {seed: 1}\n");
    cr_assert_eq(D.n, 0, "%s", all());
    const gs_model_cfg *m = M("full");
    cr_assert_str_eq(m->cmd, "/bin/server    --port 5800");
    cr_assert_eq(m->argc, 3);
    cr_assert_str_eq(m->cmd_stop, "kill -TERM ${PID}");
    cr_assert_str_eq(m->proxy, "http://127.0.0.1:5800");
    cr_assert_str_eq(m->proxy_host, "127.0.0.1");
    cr_assert_eq(m->proxy_port, 5800);
    cr_assert_eq(m->naliases, 2);
    cr_assert_str_eq(m->aliases[1], "f 2");
    cr_assert_eq(m->nenv, 3);
    cr_assert_str_eq(m->env[0], "CUDA_VISIBLE_DEVICES=0");
    cr_assert_str_eq(m->env[1], "EMPTY=");
    cr_assert_str_eq(m->env[2], "X=a=b");
    cr_assert_str_eq(m->check_endpoint, "/v1/models");
    cr_assert_eq(m->ttl, 300);
    cr_assert(m->unlisted);
    cr_assert_str_eq(m->use_model_name, "upstream-name");
    cr_assert_eq(m->concurrency_limit, 3);
    cr_assert_str_eq(m->name, "Full Model");
    cr_assert_str_eq(m->description, "does everything");
    cr_assert_eq(json_integer_value(json_object_get(m->metadata, "a")), 1);
    cr_assert_eq(m->nstrip, 1);
    cr_assert_str_eq(m->strip_params[0], "top_k");
    cr_assert_eq(json_integer_value(json_object_get(m->set_params, "seed")), 1);
    cr_assert_eq(gs_config_find(C, "f 2"), 0);
}

Test(config, top_level_keys)
{
    OK("healthCheckTimeout: 5\n"
       "logLevel: debug\n"
       "startPort: 9000\n"
       "globalTTL: 600\n"
       "apiKeys: [k1, \"sk-2\"]\n"
       "models:\n"
       "  a: {cmd: \"s --port ${PORT}\"}\n"
       "  b: {cmd: \"s --port ${PORT}\", ttl: 0}\n"
       "  c: {cmd: \"s --port ${PORT}\", ttl: -1}\n");
    cr_assert_eq(D.n, 0, "values < 15 are raised silently: %s", all());
    cr_assert_eq(C->health_check_timeout, 15);
    cr_assert_str_eq(C->log_level, "debug");
    cr_assert_eq(C->start_port, 9000);
    cr_assert_eq(C->global_ttl, 600);
    cr_assert_eq(C->napi_keys, 2);
    cr_assert_str_eq(C->api_keys[1], "sk-2");
    cr_assert_eq(M("a")->ttl, 600);
    cr_assert_eq(M("b")->ttl, 0);
    cr_assert_eq(M("c")->ttl, 600);
    cr_assert_eq(M("a")->proxy_port, 9000);
    OK("healthCheckTimeout: 300\n");
    cr_assert_eq(C->health_check_timeout, 300);
}

Test(config, top_level_value_errors)
{
    FAILS("startPort: 0\n");
    HAS("t.yaml:1: error: startPort: must be between 1 and 65535, not 0");
    FAILS("globalTTL: -1\n");
    HAS("t.yaml:1: error: globalTTL: must be at least 0, not -1");
    FAILS("healthCheckTimeout: soon\n");
    HAS("t.yaml:1: error: healthCheckTimeout: expected a whole number, not 'soon'");
    FAILS("\napiKeys:\n  - good\n  - \"\"\n  - \"has space\"\n");
    HAS("t.yaml:2: error: apiKeys[1]: empty api key");
    HAS("t.yaml:2: error: apiKeys[2]: api key cannot contain spaces");
    FAILS("models: [a, b]\n");
    HAS("t.yaml:1: error: models: expected a mapping of model ids to models");
    FAILS("- just\n- a list\n");
    HAS("t.yaml:1: error: the file must be a mapping of keys (models:, groups:, ...)");
}

Test(config, log_level_unknown_warns)
{
    OK("logLevel: loud\n");
    HAS("t.yaml:1: warning: logLevel: unknown level 'loud' (debug, info, warn, error), using info");
    cr_assert_str_eq(C->log_level, "info");
    cr_assert_eq(D.warnings, 1);
}

Test(config, model_ttl_and_limits)
{
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    ttl: -5\n");
    HAS("t.yaml:4: error: models.m.ttl: invalid TTL value -5: use seconds, 0 for never, or -1 "
        "for globalTTL");
    OK("models:\n  m:\n    cmd: s --port ${PORT}\n    concurrencyLimit: 0\n");
    cr_assert_eq(M("m")->concurrency_limit, 10);
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    concurrencyLimit: -1\n");
    HAS("t.yaml:4: error: models.m.concurrencyLimit: must be between 0 and 1000000, not -1");
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    unlisted: maybe\n");
    HAS("t.yaml:4: error: models.m.unlisted: expected true or false, not 'maybe'");
}

Test(config, cmd_missing_or_bad)
{
    FAILS("models:\n  m:\n    proxy: http://localhost:8080\n");
    HAS("t.yaml:2: error: models.m.cmd: missing");
    FAILS("models:\n  m:\n    cmd: \"\"\n    proxy: http://localhost:8080\n");
    HAS("t.yaml:3: error: models.m.cmd: missing");
    FAILS("models:\n  m:\n    cmd: |\n      # only a comment\n    proxy: http://localhost:8080\n");
    HAS("t.yaml:3: error: models.m.cmd: missing");
    FAILS("models:\n  m:\n    cmd: server 'unterminated --port ${PORT}\n");
    HAS("t.yaml:3: error: models.m.cmd: unterminated single quote");
    FAILS("models:\n  m:\n");
    HAS("t.yaml:2: error: models.m: expected a mapping with at least cmd");
    FAILS("models:\n  m:\n    cmd: [a, b]\n");
    HAS("t.yaml:3: error: models.m.cmd: expected a string");
}

Test(config, cmd_is_split_without_shell)
{
    OK("models:\n"
       "  m:\n"
       "    cmd: >-\n"
       "      \"/opt/my llama/llama-server\" -m '/m/it''s.gguf' --port ${PORT}\n"
       "      --chat-template \"a \\$HOME b\" $HOME *.gguf\n");
    const gs_model_cfg *m = M("m");
    cr_assert_eq(m->argc, 9, "%d", m->argc);
    cr_assert_str_eq(m->argv[0], "/opt/my llama/llama-server");
    cr_assert_str_eq(m->argv[2], "/m/its.gguf");
    cr_assert_str_eq(m->argv[6], "a $HOME b");
    cr_assert_str_eq(m->argv[7], "$HOME");
    cr_assert_str_eq(m->argv[8], "*.gguf");
}

/* ------------------------------------------------------------------ ${PORT}, macros */

Test(config, port_allocation_in_sorted_id_order)
{
    OK("startPort: 7000\n"
       "models:\n"
       "  zed: {cmd: \"s --port ${PORT}\"}\n"
       "  fixed: {cmd: \"s --port 1234\", proxy: \"http://localhost:1234\"}\n"
       "  beta: {cmd: \"s --port ${PORT}\"}\n"
       "  Alpha: {cmd: \"s --port ${PORT}\"}\n");
    cr_assert_eq(C->nmodels, 4);
    cr_assert_str_eq(C->models[0].id, "Alpha");
    cr_assert_str_eq(C->models[1].id, "beta");
    cr_assert_str_eq(C->models[2].id, "fixed");
    cr_assert_str_eq(C->models[3].id, "zed");
    cr_assert_eq(M("Alpha")->proxy_port, 7000);
    cr_assert_eq(M("beta")->proxy_port, 7001);
    cr_assert_eq(M("fixed")->proxy_port, 1234);
    cr_assert_eq(M("zed")->proxy_port, 7002);
    cr_assert_str_eq(M("zed")->cmd, "s --port 7002");
}

Test(config, port_via_macro_counts)
{
    OK("macros:\n"
       "  srv: \"server --port ${PORT}\"\n"
       "models:\n"
       "  a: {cmd: \"${srv} -m a\"}\n"
       "  b: {cmd: \"${srv} -m b\", checkEndpoint: \"/h?p=${PORT}\"}\n");
    cr_assert_str_eq(M("a")->cmd, "server --port 5800 -m a");
    cr_assert_str_eq(M("b")->cmd, "server --port 5801 -m b");
    cr_assert_str_eq(M("b")->check_endpoint, "/h?p=5801");
}

Test(config, proxy_rules)
{
    FAILS("models:\n  m:\n    cmd: s --port 8080\n    proxy: http://localhost:${PORT}\n");
    HAS("t.yaml:4: error: models.m.proxy: uses ${PORT} but cmd does not; ${PORT} is only "
        "available when cmd uses it");
    FAILS("models:\n  m:\n    cmd: s --port 8080\n");
    HAS("t.yaml:2: error: models.m.proxy: not set, and the default http://localhost:${PORT} "
        "needs cmd to use ${PORT}; set proxy to the address cmd listens on");
    FAILS("models:\n  m:\n    cmd: s\n    proxy: https://x:1\n");
    HAS("t.yaml:4: error: models.m.proxy: only http:// upstreams are supported, not "
        "'https://x:1'");
    FAILS("models:\n  m:\n    cmd: s\n    proxy: localhost:8080\n");
    HAS("t.yaml:4: error: models.m.proxy: invalid proxy URL: expected http://HOST:PORT, not "
        "'localhost:8080'");
    FAILS("models:\n  m:\n    cmd: s\n    proxy: http://h:99999\n");
    HAS("t.yaml:4: error: models.m.proxy: invalid proxy URL: bad port, not 'http://h:99999'");
    OK("models:\n  m:\n    cmd: s\n    proxy: http://[::1]:81/base/\n");
    cr_assert_str_eq(M("m")->proxy, "http://[::1]:81/base");
    cr_assert_str_eq(M("m")->proxy_host, "::1");
    cr_assert_eq(M("m")->proxy_port, 81);
    OK("models:\n  m:\n    cmd: s\n    proxy: http://example\n");
    cr_assert_eq(M("m")->proxy_port, 80);
}

Test(config, model_id_macro)
{
    OK("macros:\n"
       "  base: \"srv --alias ${MODEL_ID}\"\n"
       "models:\n"
       "  \"llama3.2:1b\":\n"
       "    cmd: ${base} --port ${PORT}\n"
       "    name: \"Model ${MODEL_ID}\"\n"
       "    env: [\"ID=${MODEL_ID}\"]\n");
    const gs_model_cfg *m = M("llama3.2:1b");
    cr_assert_str_eq(m->cmd, "srv --alias llama3.2:1b --port 5800");
    cr_assert_str_eq(m->name, "Model llama3.2:1b");
    cr_assert_str_eq(m->env[0], "ID=llama3.2:1b");
}

Test(config, macros_refer_to_earlier_ones)
{
    OK("macros:\n"
       "  bin: /usr/bin/llama-server\n"
       "  ctx: 8192\n"
       "  base: \"${bin} -c ${ctx}\"\n"
       "  full: \"${base} --port ${PORT}\"\n"
       "models:\n"
       "  m: {cmd: \"${full} -m x\"}\n");
    cr_assert_str_eq(M("m")->cmd, "/usr/bin/llama-server -c 8192 --port 5800 -m x");
}

Test(config, macro_forward_reference_is_unknown)
{
    FAILS("macros:\n"
          "  first: \"${second} x\"\n"
          "  second: y\n"
          "models:\n"
          "  m:\n"
          "    cmd: \"s ${first} --port ${PORT}\"\n");
    HAS("t.yaml:6: error: models.m.cmd: unknown macro ${second}");
}

Test(config, macro_errors)
{
    FAILS("macros:\n  me: \"a ${me}\"\n");
    HAS("t.yaml:2: error: macros.me: macro refers to itself");
    FAILS("macros:\n  PORT: 1\n");
    HAS("t.yaml:2: error: macros.PORT: PORT is reserved and set by ggswap");
    FAILS("macros:\n  MODEL_ID: x\n  PID: y\n");
    HAS("t.yaml:2: error: macros.MODEL_ID: MODEL_ID is reserved and set by ggswap");
    HAS("t.yaml:3: error: macros.PID: PID is reserved and set by ggswap");
    FAILS("macros:\n  \"bad name\": 1\n");
    HAS("t.yaml:2: error: macros.bad name: invalid macro name: use letters, digits, '_' and "
        "'-', fewer than 64");
    FAILS("macros:\n  "
          "a123456789012345678901234567890123456789012345678901234567890123: 1\n");
    cr_assert_eq(D.errors, 1);
    FAILS("macros:\n  list: [1, 2]\n");
    HAS("t.yaml:2: error: macros.list: a macro value must be a string, number or boolean");
    FAILS("macros: [a]\n");
    HAS("t.yaml:1: error: macros: expected a mapping of names to values");
}

Test(config, macro_value_types)
{
    OK("macros:\n  n: 42\n  f: 1.5\n  b: true\n  s: 'quoted'\n"
       "models:\n  m: {cmd: \"s ${n} ${f} ${b} ${s} --port ${PORT}\"}\n");
    cr_assert_str_eq(M("m")->cmd, "s 42 1.5 true quoted --port 5800");
}

Test(config, unknown_macro_names_the_key)
{
    FAILS("models:\n"
          "  m:\n"
          "    cmd: |\n"
          "      s --port ${PORT}\n"
          "      # ${in_comment} is fine\n"
          "      -m ${nope}\n"
          "    description: \"${what}\"\n"
          "    metadata:\n"
          "      deep: {x: \"${missing}\"}\n");
    HAS("t.yaml:3: error: models.m.cmd: unknown macro ${nope}");
    HAS("t.yaml:7: error: models.m.description: unknown macro ${what}");
    HAS("t.yaml:9: error: models.m.metadata.deep.x: unknown macro ${missing}");
    cr_assert_eq(D.errors, 3, "%s", all());
}

Test(config, model_macros_override_globals)
{
    OK("macros:\n"
       "  q: q4\n"
       "  file: \"/m/model-${q}.gguf\"\n"
       "models:\n"
       "  a:\n"
       "    cmd: s -m ${file} --port ${PORT}\n"
       "  b:\n"
       "    macros:\n"
       "      q: q8\n"
       "      extra: \"${file} --x\"\n"
       "    cmd: s -m ${extra} --port ${PORT}\n");
    cr_assert_str_eq(M("a")->cmd, "s -m /m/model-q4.gguf --port 5800");
    cr_assert_str_eq(M("b")->cmd, "s -m /m/model-q8.gguf --x --port 5801");
}

Test(config, pid_only_in_cmd_stop)
{
    OK("models:\n  m:\n    cmd: s --port ${PORT}\n    cmdStop: |\n      # stop it\n"
       "      kill ${PID}\n");
    cr_assert_str_eq(M("m")->cmd_stop, "kill ${PID}");
    FAILS("models:\n  m:\n    cmd: s --port ${PORT} --pid ${PID}\n");
    HAS("t.yaml:3: error: models.m.cmd: ${PID} is only available in cmdStop");
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    cmdStop: \"kill 'x\"\n");
    HAS("t.yaml:4: error: models.m.cmdStop: unterminated single quote");
}

Test(config, env_macros)
{
    setenv("GGSWAP_TEST_DIR", "/data dir", 1);
    OK("models:\n  m: {cmd: \"s --port ${PORT} -m '${env.GGSWAP_TEST_DIR}/x'\"}\n");
    cr_assert_str_eq(M("m")->argv[4], "/data dir/x");
    unsetenv("GGSWAP_TEST_DIR_UNSET");
    FAILS("models:\n  m: {cmd: \"s --port ${PORT} ${env.GGSWAP_TEST_DIR_UNSET}\"}\n");
    HAS("t.yaml:2: error: models.m.cmd: environment variable 'GGSWAP_TEST_DIR_UNSET' is not "
        "set");
}

/* ------------------------------------------------------------------ env, filters, metadata */

Test(config, env_format)
{
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    env:\n      - NOEQUALS\n"
          "      - \"=v\"\n      - \"1X=v\"\n      - \"A B=v\"\n      - OK_1=v\n");
    HAS("t.yaml:4: error: models.m.env[0]: expected NAME=value, not 'NOEQUALS'");
    HAS("t.yaml:4: error: models.m.env[1]: expected NAME=value, not '=v'");
    HAS("t.yaml:4: error: models.m.env[2]: expected NAME=value, not '1X=v'");
    HAS("t.yaml:4: error: models.m.env[3]: expected NAME=value, not 'A B=v'");
    cr_assert_eq(D.errors, 4);
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    env: A=1\n");
    HAS("t.yaml:4: error: models.m.env: expected a list");
}

Test(config, strip_params)
{
    OK("models:\n"
       "  a:\n"
       "    cmd: s --port ${PORT}\n"
       "    filters:\n"
       "      stripParams: \" temperature, model ,top_p,,top_k , temperature\"\n"
       "  b:\n"
       "    cmd: s --port ${PORT}\n"
       "    filters:\n"
       "      strip_params: \"min_p\"\n");
    const gs_model_cfg *a = M("a");
    cr_assert_eq(a->nstrip, 3);
    cr_assert_str_eq(a->strip_params[0], "temperature");
    cr_assert_str_eq(a->strip_params[1], "top_p");
    cr_assert_str_eq(a->strip_params[2], "top_k");
    cr_assert_eq(M("b")->nstrip, 1);
    cr_assert_str_eq(M("b")->strip_params[0], "min_p");
}

Test(config, set_params_typing)
{
    OK("macros:\n"
       "  temp: 0.25\n"
       "  label: hello\n"
       "models:\n"
       "  m:\n"
       "    cmd: s --port ${PORT}\n"
       "    filters:\n"
       "      setParams:\n"
       "        model: nope\n"
       "        i: 42\n"
       "        neg: -7\n"
       "        f: 0.5\n"
       "        e: 1e3\n"
       "        t: true\n"
       "        no: false\n"
       "        n: null\n"
       "        tilde: ~\n"
       "        qs: \"5\"\n"
       "        s: text\n"
       "        big: 123456789012345678901234567890\n"
       "        nested: {a: [1, \"two\", {b: false}]}\n"
       "        temp: ${temp}\n"
       "        port: ${PORT}\n"
       "        mixed: \"${label} world\"\n"
       "        typed_str: ${label}\n");
    HAS("t.yaml:9: warning: models.m.filters.setParams.model: the model name cannot be set "
        "here, ignored (see useModelName)");
    json_t *p = M("m")->set_params;
    cr_assert(json_is_object(p));
    cr_assert_null(json_object_get(p, "model"));
    cr_assert_eq(json_integer_value(json_object_get(p, "i")), 42);
    cr_assert_eq(json_integer_value(json_object_get(p, "neg")), -7);
    cr_assert(json_is_real(json_object_get(p, "f")));
    cr_assert_float_eq(json_real_value(json_object_get(p, "f")), 0.5, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(p, "e")), 1000.0, 1e-9);
    cr_assert(json_is_true(json_object_get(p, "t")));
    cr_assert(json_is_false(json_object_get(p, "no")));
    cr_assert(json_is_null(json_object_get(p, "n")));
    cr_assert(json_is_null(json_object_get(p, "tilde")));
    cr_assert_str_eq(json_string_value(json_object_get(p, "qs")), "5");
    cr_assert_str_eq(json_string_value(json_object_get(p, "s")), "text");
    cr_assert(json_is_real(json_object_get(p, "big")));
    json_t *a = json_object_get(json_object_get(p, "nested"), "a");
    cr_assert_eq(json_array_size(a), 3);
    cr_assert_str_eq(json_string_value(json_array_get(a, 1)), "two");
    cr_assert(json_is_false(json_object_get(json_array_get(a, 2), "b")));
    cr_assert_float_eq(json_real_value(json_object_get(p, "temp")), 0.25, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(p, "port")), 5800);
    cr_assert_str_eq(json_string_value(json_object_get(p, "mixed")), "hello world");
    cr_assert_str_eq(json_string_value(json_object_get(p, "typed_str")), "hello");
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    filters:\n      setParams: [1]\n");
    HAS("t.yaml:5: error: models.m.filters.setParams: expected a mapping of parameter names to "
        "values");
}

Test(config, metadata_any_json)
{
    OK("macros: {ctx: 4096}\n"
       "models:\n"
       "  m:\n"
       "    cmd: s --port ${PORT}\n"
       "    metadata:\n"
       "      ctx: ${ctx}\n"
       "      port: ${PORT}\n"
       "      id: ${MODEL_ID}\n"
       "      tags: [chat, \"v${ctx}\"]\n");
    json_t *md = M("m")->metadata;
    cr_assert_eq(json_integer_value(json_object_get(md, "ctx")), 4096);
    cr_assert_eq(json_integer_value(json_object_get(md, "port")), 5800);
    cr_assert_str_eq(json_string_value(json_object_get(md, "id")), "m");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(md, "tags"), 1)), "v4096");
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    metadata: 5\n");
    HAS("t.yaml:4: error: models.m.metadata: expected a mapping");
}

Test(config, check_endpoint_none)
{
    OK("models:\n  m:\n    cmd: s --port ${PORT}\n    checkEndpoint: none\n"
       "  n:\n    cmd: s --port ${PORT}\n    checkEndpoint: ready\n");
    cr_assert_null(M("m")->check_endpoint);
    cr_assert_str_eq(M("n")->check_endpoint, "/ready");
    OK("models:\n  m:\n    cmd: s --port ${PORT}\n    checkEndpoint: \"\"\n"
       "    cmdStop: \"  \"\n");
    cr_assert_str_eq(M("m")->check_endpoint, "/health");
    cr_assert_null(M("m")->cmd_stop);
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    checkEndpoint: \"/h\\r\\nX: y\"\n");
    HAS("t.yaml:4: error: models.m.checkEndpoint: must be a path without spaces or control "
        "characters");
}

Test(config, generated_shape)
{
    OK("# Generated by ggswap\n"
       "healthCheckTimeout: 120\n"
       "logLevel: info\n"
       "models:\n"
       "  \"llama3.2:1b-instruct\":\n"
       "    cmd: >-\n"
       "      \"/opt/my apps/llama-server\" -m \"/home/u/My \\\"Models\\\"/\\$x.gguf\"\n"
       "      --port ${PORT} --ctx-size 8192 --jinja\n"
       "    proxy: http://127.0.0.1:${PORT}\n"
       "    ttl: 300\n"
       "    aliases:\n"
       "      - gpt-3.5-turbo\n"
       "  \"nomic-embed:text\":\n"
       "    cmd: >-\n"
       "      \"/opt/my apps/llama-server\" -m /m/e.gguf --port ${PORT} --embeddings --pooling mean\n"
       "    proxy: http://127.0.0.1:${PORT}\n"
       "    ttl: 300\n"
       "    aliases: [text-embedding-ada-002]\n"
       "groups:\n"
       "  default_group:\n"
       "    swap: true\n"
       "    exclusive: true\n"
       "    members: [\"llama3.2:1b-instruct\"]\n"
       "  embedding_group:\n"
       "    swap: true\n"
       "    exclusive: false\n"
       "    persistent: true\n"
       "    members: [\"nomic-embed:text\"]\n");
    cr_assert_eq(D.n, 0, "%s", all());
    const gs_model_cfg *m = M("gpt-3.5-turbo");
    cr_assert_str_eq(m->argv[0], "/opt/my apps/llama-server");
    cr_assert_str_eq(m->argv[2], "/home/u/My \"Models\"/$x.gguf");
    cr_assert_str_eq(m->proxy, "http://127.0.0.1:5800");
    cr_assert_eq(M("text-embedding-ada-002")->proxy_port, 5801);
    cr_assert_eq(C->ngroups, 2);
}

/* ------------------------------------------------------------------ names and groups */

Test(config, duplicate_aliases)
{
    FAILS("models:\n"
          "  a:\n"
          "    cmd: s --port ${PORT}\n"
          "    aliases: [shared]\n"
          "  b:\n"
          "    cmd: s --port ${PORT}\n"
          "    aliases: [other, shared]\n");
    HAS("t.yaml:5: error: models.b.aliases[1]: duplicate alias shared in models a and b");
    cr_assert_eq(D.errors, 1);
    FAILS("models:\n"
          "  a:\n"
          "    cmd: s --port ${PORT}\n"
          "  b:\n"
          "    cmd: s --port ${PORT}\n"
          "    aliases: [a]\n");
    HAS("t.yaml:4: error: models.b.aliases[0]: duplicate alias a in models a and b");
    FAILS("models:\n"
          "  z:\n"
          "    cmd: s --port ${PORT}\n"
          "    aliases: [y]\n"
          "  y:\n"
          "    cmd: s --port ${PORT}\n");
    HAS("t.yaml:2: error: models.z.aliases[0]: duplicate alias y in models y and z");
    FAILS("models:\n  a:\n    cmd: s --port ${PORT}\n    aliases: [x, x]\n");
    HAS("t.yaml:2: error: models.a.aliases[1]: alias x is listed twice");
}

Test(config, find_by_id_and_alias)
{
    OK("models:\n"
       "  b: {cmd: \"s --port ${PORT}\", aliases: [gpt-4, bee]}\n"
       "  a: {cmd: \"s --port ${PORT}\"}\n"
       "  c: {cmd: \"s --port ${PORT}\"}\n");
    cr_assert_eq(gs_config_find(C, "a"), 0);
    cr_assert_eq(gs_config_find(C, "b"), 1);
    cr_assert_eq(gs_config_find(C, "c"), 2);
    cr_assert_eq(gs_config_find(C, "gpt-4"), 1);
    cr_assert_eq(gs_config_find(C, "bee"), 1);
    cr_assert_eq(gs_config_find(C, "nope"), -1);
    cr_assert_eq(gs_config_find(C, ""), -1);
}

Test(config, groups_and_default_group)
{
    OK("models:\n"
       "  e1: {cmd: \"s --port ${PORT}\"}\n"
       "  c2: {cmd: \"s --port ${PORT}\", aliases: [chat2]}\n"
       "  c1: {cmd: \"s --port ${PORT}\"}\n"
       "  lone2: {cmd: \"s --port ${PORT}\"}\n"
       "  lone1: {cmd: \"s --port ${PORT}\"}\n"
       "groups:\n"
       "  chat:\n"
       "    members: [c1, chat2]\n"
       "  embed:\n"
       "    swap: true\n"
       "    exclusive: false\n"
       "    persistent: true\n"
       "    members: [e1]\n");
    cr_assert_eq(D.n, 0, "%s", all());
    cr_assert_eq(C->ngroups, 3);
    const gs_group_cfg *g = &C->groups[0];
    cr_assert_str_eq(g->id, "chat");
    cr_assert(g->swap && g->exclusive && !g->persistent);
    cr_assert_eq(g->nmembers, 2);
    cr_assert_str_eq(C->models[g->members[0]].id, "c1");
    cr_assert_str_eq(C->models[g->members[1]].id, "c2");
    g = &C->groups[1];
    cr_assert_str_eq(g->id, "embed");
    cr_assert(g->swap && !g->exclusive && g->persistent);
    cr_assert_eq(g->nmembers, 1);
    cr_assert_str_eq(C->models[g->members[0]].id, "e1");
    g = &C->groups[2];
    cr_assert_str_eq(g->id, "(default)");
    cr_assert(g->swap && g->exclusive && !g->persistent);
    cr_assert_eq(g->nmembers, 2);
    cr_assert_str_eq(C->models[g->members[0]].id, "lone1");
    cr_assert_str_eq(C->models[g->members[1]].id, "lone2");
    cr_assert_eq(M("c2")->group, 0);
    cr_assert_eq(M("e1")->group, 1);
    cr_assert_eq(M("lone1")->group, 2);
    cr_assert_eq(M("lone2")->group, 2);
}

Test(config, no_default_group_when_all_grouped)
{
    OK("models:\n  a: {cmd: \"s --port ${PORT}\"}\ngroups:\n  g: {swap: false, members: [a]}\n");
    cr_assert_eq(C->ngroups, 1);
    cr_assert_not(C->groups[0].swap);
}

Test(config, group_errors)
{
    FAILS("models:\n"
          "  a: {cmd: \"s --port ${PORT}\"}\n"
          "  b: {cmd: \"s --port ${PORT}\"}\n"
          "groups:\n"
          "  g1:\n"
          "    members: [a, a, ghost]\n"
          "  g2:\n"
          "    members:\n"
          "      - b\n"
          "      - a\n"
          "  (default):\n"
          "    members: []\n");
    HAS("t.yaml:6: error: groups.g1.members[1]: duplicate member a in group g1");
    HAS("t.yaml:6: error: groups.g1.members[2]: unknown model ghost");
    HAS("t.yaml:8: error: groups.g2.members[1]: model a is in two groups: g1 and g2");
    HAS("t.yaml:11: error: groups.(default): the name (default) is reserved for models in no "
        "group");
    cr_assert_eq(D.errors, 4, "%s", all());
}

Test(config, preload)
{
    OK("models:\n"
       "  a: {cmd: \"s --port ${PORT}\", aliases: [al]}\n"
       "  b: {cmd: \"s --port ${PORT}\"}\n"
       "hooks:\n"
       "  on_startup:\n"
       "    preload:\n"
       "      - \" al \"\n"
       "      - b\n"
       "      - ghost\n"
       "      - a\n");
    HAS("t.yaml:6: warning: hooks.on_startup.preload[2]: unknown model ghost, ignored");
    cr_assert_eq(D.errors, 0);
    cr_assert_eq(C->npreload, 2);
    cr_assert_str_eq(C->preload[0], "a");
    cr_assert_str_eq(C->preload[1], "b");
}

/* ------------------------------------------------------------------ warnings and syntax */

Test(config, unknown_keys_warn_with_lines)
{
    OK("logLevel: info\n"
       "mystery: 1\n"
       "captureBuffer: 5\n"
       "metricsMaxInMemory: 10\n"
       "models:\n"
       "  m:\n"
       "    cmd: s --port ${PORT}\n"
       "    typo_ttl: 5\n"
       "    healthCheckTimeout: 3\n"
       "    filters:\n"
       "      stripParms: x\n"
       "groups:\n"
       "  g:\n"
       "    members: [m]\n"
       "    exclusve: false\n"
       "hooks:\n"
       "  on_shutdown: {}\n");
    HAS("t.yaml:2: warning: mystery: unknown key, ignored");
    HAS("t.yaml:3: warning: captureBuffer: not supported by ggswap, ignored");
    HAS("t.yaml:4: warning: metricsMaxInMemory: not supported by ggswap, ignored");
    HAS("t.yaml:8: warning: models.m.typo_ttl: unknown key, ignored");
    HAS("t.yaml:9: warning: models.m.healthCheckTimeout: not supported by ggswap, ignored");
    HAS("t.yaml:11: warning: models.m.filters.stripParms: unknown key, ignored");
    HAS("t.yaml:15: warning: groups.g.exclusve: unknown key, ignored");
    HAS("t.yaml:17: warning: hooks.on_shutdown: unknown key, ignored");
    cr_assert_eq(D.warnings, 8, "%s", all());
    cr_assert_eq(D.errors, 0);
    cr_assert(C->groups[0].exclusive);
}

Test(config, yaml_syntax_errors_have_lines)
{
    FAILS("models:\n  a:\n    cmd: [unclosed\n  b: 1\n");
    cr_assert_eq(D.n, 1, "%s", all());
    cr_assert(strncmp(D.msgs[0], "t.yaml:", 7) == 0 && strstr(D.msgs[0], ": error: yaml: "),
              "%s", all());
    FAILS("a: 1\nb: \"unterminated\n");
    HAS("t.yaml:2: error: yaml: double-quoted scalar without closing quote");
    FAILS("models:\n  a: 1\n  a: 2\n");
    HAS("t.yaml:3: error: yaml: duplicate key");
}

Test(config, yaml_anchors_and_merges)
{
    OK("x-base: &base\n"
       "  cmd: s --port ${PORT}\n"
       "  ttl: 60\n"
       "models:\n"
       "  a:\n"
       "    <<: *base\n"
       "  b:\n"
       "    <<: *base\n"
       "    ttl: 5\n"
       "    aliases: &al [bee]\n");
    HAS("t.yaml:1: warning: x-base: unknown key, ignored");
    cr_assert_eq(M("a")->ttl, 60);
    cr_assert_eq(M("b")->ttl, 5);
    cr_assert_str_eq(M("b")->cmd, "s --port 5801");
    FAILS("models:\n  a:\n    cmd: *nowhere\n");
    cr_assert_gt(D.errors, 0);
}

Test(config, invalid_utf8_and_nul)
{
    FAILS("models:\n  m:\n    cmd: s --port ${PORT}\n    name: a\xc3(b\n");
    HAS("t.yaml:4: error: yaml: the file is not valid UTF-8 text");
    /* libfyaml 0.7 would loop forever on this one */
    FAILS("%\xff");
    HAS("t.yaml:1: error: yaml: the file is not valid UTF-8 text");
    FAILS("models:\n  m:\n    cmd: \"s\\0x --port ${PORT}\"\n");
    HAS("t.yaml:3: error: models.m.cmd: contains a NUL character");
}

/* ------------------------------------------------------------------ limits (hostile input) */

Test(config, deep_nesting_is_refused)
{
    char buf[4096] = "models:\n  m:\n    cmd: s --port ${PORT}\n    metadata:\n      a: ";
    for (int i = 0; i < 100; i++)
        strcat(buf, "[");
    for (int i = 0; i < 100; i++)
        strcat(buf, "]");
    strcat(buf, "\n");
    int rc = parse(buf);
    cr_assert_neq(rc, 0);
    cr_assert_gt(D.errors, 0);
}

Test(config, billion_laughs_terminates)
{
    const char *y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                    "models:\n"
                    "  m:\n"
                    "    cmd: s --port ${PORT}\n"
                    "    metadata: {boom: *h}\n";
    int rc = parse(y);
    cr_assert_neq(rc, 0);
    bool found = false;
    for (int i = 0; i < D.n; i++)
        found = found || (strncmp(D.msgs[i], "t.yaml:12: error: models.m.metadata.boom[", 41) == 0 &&
                          strstr(D.msgs[i], "]: too many YAML nodes (alias expansion); simplify the file"));
    cr_assert(found, "%s", all());
    cr_assert_eq(D.errors, 1, "%s", all());
}

Test(config, macro_bomb_terminates)
{
    const char *y = "macros:\n"
                    "  a: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
                    "  b: ${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}\n"
                    "  c: ${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}\n"
                    "  d: ${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}${c}\n"
                    "  e: ${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}${d}\n"
                    "  f: ${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}${e}\n"
                    "models:\n"
                    "  m: {cmd: \"${f} --port ${PORT}\"}\n";
    cr_assert_neq(parse(y), 0);
    cr_assert_gt(D.errors, 0);
}

Test(config, file_over_16_mib_is_refused)
{
    size_t n = (16u << 20) + 1;
    char *big = malloc(n + 1);
    memset(big, '#', n);
    big[n] = 0;
    int rc = gs_config_parse(big, n, "big.yaml", &C, &D);
    free(big);
    cr_assert_eq(rc, -EFBIG);
    HAS("big.yaml: error: the file is larger than 16 MiB; this is not a config");
}

/* ------------------------------------------------------------------ same process */

Test(config, same_process)
{
    OK("models:\n"
       "  a: {cmd: \"s --port ${PORT}\", env: [A=1], ttl: 5}\n"
       "  b: {cmd: \"s --port ${PORT}\", env: [A=1], ttl: 9, aliases: [x]}\n");
    gs_model_cfg a = C->models[0], b = C->models[1];
    /* different ports make different processes */
    cr_assert_not(gs_config_model_same_process(&a, &b));
    b.cmd = a.cmd;
    b.proxy = a.proxy;
    cr_assert(gs_config_model_same_process(&a, &b), "ttl and aliases do not matter");
    b.check_endpoint = NULL;
    cr_assert_not(gs_config_model_same_process(&a, &b));
    b.check_endpoint = a.check_endpoint;
    b.cmd_stop = "kill ${PID}";
    cr_assert_not(gs_config_model_same_process(&a, &b));
    b.cmd_stop = a.cmd_stop;
    b.nenv = 0;
    cr_assert_not(gs_config_model_same_process(&a, &b));
}

/* ------------------------------------------------------------------ files and `config check` */

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/ggswap-test-config-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, load_file)
{
    char *p = write_tmp("models:\n  m: {cmd: \"s --port ${PORT}\"}\n");
    cr_assert_eq(gs_config_load(p, &C, &D), 0);
    cr_assert_str_eq(C->path, p);
    cr_assert_eq(C->nmodels, 1);
    unlink(p);
    free(p);
    gs_config_free(C);
    C = NULL;
    cr_assert_eq(gs_config_load("/nonexistent/ggswap.yaml", &C, &D), -ENOENT);
    HAS("/nonexistent/ggswap.yaml: error: cannot open: No such file or directory");
    cr_assert_eq(gs_config_load("/tmp", &C, &D), -EISDIR);
    HAS("/tmp: error: is a directory, not a config file");
}

static void redirect(void)
{
    cr_redirect_stdout();
    cr_redirect_stderr();
}

Test(config_check, ok_file, .init = redirect)
{
    char *p = write_tmp("models:\n  m: {cmd: \"s --port ${PORT}\"}\n  n: {cmd: \"s --port ${PORT}\"}\n"
                        "junk: 1\n");
    char *argv[] = {"check", p, NULL};
    cr_assert_eq(gs_config_check_main(2, argv), 0);
    fflush(stdout);
    fflush(stderr);
    char want[256], werr[256];
    snprintf(want, sizeof(want), "%s: ok (2 models, 1 groups)\n", p);
    snprintf(werr, sizeof(werr), "%s:4: warning: junk: unknown key, ignored\n", p);
    cr_assert_stdout_eq_str(want);
    cr_assert_stderr_eq_str(werr);
    unlink(p);
    free(p);
}

Test(config_check, errors_exit_2, .init = redirect)
{
    char *p = write_tmp("startPort: 0\nmodels:\n  m: {proxy: \"http://h:1\"}\n");
    char *argv[] = {"check", p, NULL};
    cr_assert_eq(gs_config_check_main(2, argv), 2);
    fflush(stdout);
    fflush(stderr);
    char werr[512];
    snprintf(werr, sizeof(werr),
             "%s:1: error: startPort: must be between 1 and 65535, not 0\n"
             "%s:3: error: models.m.cmd: missing\n",
             p, p);
    cr_assert_stdout_eq_str("");
    cr_assert_stderr_eq_str(werr);
    unlink(p);
    free(p);
}

Test(config_check, usage_and_missing_file, .init = redirect)
{
    char *a1[] = {"check", NULL};
    cr_assert_eq(gs_config_check_main(1, a1), 2);
    char *a2[] = {"check", "/nonexistent/x.yaml", NULL};
    cr_assert_eq(gs_config_check_main(2, a2), 2);
    char *a3[] = {"check", "a", "b", NULL};
    cr_assert_eq(gs_config_check_main(3, a3), 2);
    fflush(stderr);
    cr_assert_stderr_eq_str("usage: ggswap config check FILE\n"
                            "/nonexistent/x.yaml: error: cannot open: No such file or directory\n"
                            "usage: ggswap config check FILE\n");
}

/* Names reach HTTP headers, Prometheus labels and logs: control characters would let a config
 * inject header lines (found by the fuzzer, fuzz/crashes/config/ctl-in-model-id.yaml). */
Test(config, names_refuse_control_characters)
{
    const char *bad[] = {
        "models:\n  \"a\\r\\nX-Evil: 1\":\n    cmd: x --port ${PORT}\n",
        "models:\n  a:\n    cmd: x --port ${PORT}\n    aliases: [\"b\\nc\"]\n",
        "models:\n  'q\"x':\n    cmd: x --port ${PORT}\n",
        "models:\n  a:\n    cmd: x --port ${PORT}\ngroups:\n  \"g\\tx\": {members: [a]}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gs_config *c = NULL;
        gs_diag d = {0};
        int rc = gs_config_parse(bad[i], strlen(bad[i]), "t.yaml", &c, &d);
        char *all = gs_diag_join(&d);
        cr_assert_lt(rc, 0, "case %zu loaded: %s", i, all);
        cr_assert(strstr(all, "cannot hold control characters"), "case %zu: %s", i, all);
        free(all);
        gs_diag_free(&d);
        gs_config_free(c);
    }
}

/* ------------------------------------------------------------------ llama-swap v250 keys */

#define CMD "    cmd: s --port ${PORT}\n"

Test(config, typed_macros_give_numbers_and_booleans)
{
    OK("macros:\n"
       "  T: 30\n"
       "  P: 6000\n"
       "  B: true\n"
       "  U: 7\n"
       "startPort: ${P}\n"
       "globalTTL: ${T}\n"
       "unloadTimeout: ${U}\n"
       "sendLoadingState: ${B}\n"
       "models:\n"
       "  a:\n" CMD "    ttl: ${T}\n"
       "    unlisted: ${B}\n"
       "    concurrencyLimit: ${U}\n"
       "  b:\n" CMD);
    cr_assert_eq(D.n, 0, "%s", all());
    cr_assert_eq(C->start_port, 6000);
    cr_assert_eq(C->global_ttl, 30);
    cr_assert_eq(M("a")->ttl, 30);
    cr_assert(M("a")->unlisted);
    cr_assert_eq(M("a")->concurrency_limit, 7);
    cr_assert_eq(M("a")->proxy_port, 6000);
    cr_assert_eq(M("b")->proxy_port, 6001);
    cr_assert_eq(M("b")->unload_timeout, 7);
    cr_assert(M("b")->send_loading_state);
}

Test(config, typed_macro_errors)
{
    FAILS("macros: {T: soon}\nmodels:\n  a:\n" CMD "    ttl: ${T}\n");
    HAS("t.yaml:5: error: models.a.ttl: expected a whole number, not 'soon'");
    FAILS("startPort: ${NOPE}\nmodels: {}\n");
    HAS("t.yaml:1: error: startPort: unknown macro ${NOPE}");
    FAILS("globalTTL: ${PORT}\n");
    HAS("t.yaml:1: error: globalTTL: ${PORT} is only available in a model's keys");
}

Test(config, unload_timeout_send_loading_state_aliases_in_list)
{
    OK("models:\n  a:\n" CMD "  b:\n" CMD "    unloadTimeout: 3\n    sendLoadingState: true\n");
    cr_assert_eq(C->unload_timeout, 10);
    cr_assert_eq(M("a")->unload_timeout, 10);
    cr_assert_eq(M("b")->unload_timeout, 3);
    cr_assert(!C->send_loading_state);
    cr_assert(!M("a")->send_loading_state);
    cr_assert(M("b")->send_loading_state);
    cr_assert(!C->include_aliases_in_list);
    OK("unloadTimeout: 0\nsendLoadingState: true\nincludeAliasesInList: true\n"
       "models:\n  a:\n" CMD "    sendLoadingState: false\n");
    cr_assert_eq(C->unload_timeout, 10);
    cr_assert(C->include_aliases_in_list);
    cr_assert(!M("a")->send_loading_state);
    FAILS("unloadTimeout: -1\n");
    HAS("t.yaml:1: error: unloadTimeout: must be between 0 and 86400, not -1");
    FAILS("models:\n  a:\n" CMD "    unloadTimeout: -2\n");
    HAS("t.yaml:4: error: models.a.unloadTimeout: must be between 0 and 86400, not -2");
    FAILS("includeAliasesInList: maybe\n");
    HAS("t.yaml:1: error: includeAliasesInList: expected true or false, not 'maybe'");
}

Test(config, log_to_stdout)
{
    static const struct {
        const char *v;
        gs_log_stdout want;
    } cases[] = {{"proxy", GS_LOG_STDOUT_PROXY},
                 {"upstream", GS_LOG_STDOUT_UPSTREAM},
                 {"both", GS_LOG_STDOUT_BOTH},
                 {"none", GS_LOG_STDOUT_NONE}};
    OK("models: {}\n");
    cr_assert_eq(C->log_to_stdout, GS_LOG_STDOUT_PROXY);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char y[64];
        snprintf(y, sizeof(y), "logToStdout: %s\n", cases[i].v);
        OK(y);
        cr_assert_eq(C->log_to_stdout, cases[i].want, "%s", cases[i].v);
    }
    FAILS("logToStdout: all\n");
    HAS("t.yaml:1: error: logToStdout: must be one of: proxy, upstream, both, none; not 'all'");
}

Test(config, store_path)
{
    OK("models: {}\n");
    cr_assert_null(C->store_path);
    OK("store:\n  path: /tmp/ggswap-test-activity.db\n");
    cr_assert_str_eq(C->store_path, "/tmp/ggswap-test-activity.db");
    FAILS("store:\n  path: /tmp\n");
    HAS("t.yaml:2: error: store.path: /tmp is a directory, not a file");
    FAILS("store:\n  path: /no/such/dir/x.db\n");
    HAS("t.yaml:2: error: store.path: the folder /no/such/dir does not exist");
}

Test(config, upstream_ignore_paths)
{
    static const struct {
        const char *path;
        bool ignored;
    } dflt[] = {{"/app.js", true},         {"/manifest.json", true}, {"/x/y/icon.png", true},
                {"/favicon.ico", true},    {"/robots.txt", true},    {"/", false},
                {"/v1/chat/completions", false}, {"/js", false}};
    OK("models: {}\n");
    cr_assert_eq(C->nignore_paths, 1);
    for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++)
        cr_assert_eq(gs_config_ignore_path(C, dflt[i].path), dflt[i].ignored, "%s", dflt[i].path);
    OK("upstream:\n  ignorePaths: ['^/static/', '\\.map$']\n");
    cr_assert_eq(C->nignore_paths, 2);
    cr_assert(gs_config_ignore_path(C, "/static/a"));
    cr_assert(gs_config_ignore_path(C, "/a.js.map"));
    cr_assert(!gs_config_ignore_path(C, "/app.js"));
    OK("upstream:\n  ignorePaths: []\n");
    cr_assert(gs_config_ignore_path(C, "/app.js"));
    FAILS("upstream:\n  ignorePaths: ['(unclosed']\n");
    cr_assert(strstr(all(), "t.yaml:2: error: upstream.ignorePaths[0]: invalid regular expression "
                            "'(unclosed'"), "%s", all());
}

Test(config, timeouts_capabilities_compat)
{
    OK("models:\n  a:\n" CMD "  b:\n" CMD
       "    timeouts: {connect: 5, responseHeader: 120, idleConn: 0}\n"
       "    compat: {ignoreWebsockets: true}\n"
       "    capabilities:\n"
       "      in: [text, image]\n"
       "      out: [text]\n"
       "      tools: true\n"
       "      context: 32768\n");
    const gs_model_cfg *a = M("a"), *b = M("b");
    cr_assert_eq(a->timeouts.connect, 30);
    cr_assert_eq(a->timeouts.keepalive, 30);
    cr_assert_eq(a->timeouts.response_header, 0);
    cr_assert_eq(a->timeouts.tls_handshake, 10);
    cr_assert_eq(a->timeouts.expect_continue, 1);
    cr_assert_eq(a->timeouts.idle_conn, 90);
    cr_assert(!a->caps.set);
    cr_assert(!a->ignore_websockets);
    cr_assert_eq(b->timeouts.connect, 5);
    cr_assert_eq(b->timeouts.response_header, 120);
    cr_assert_eq(b->timeouts.idle_conn, 0);
    cr_assert(b->ignore_websockets);
    cr_assert(b->caps.set);
    cr_assert_eq(b->caps.in, GS_MODALITY_TEXT | GS_MODALITY_IMAGE);
    cr_assert_eq(b->caps.out, GS_MODALITY_TEXT);
    cr_assert(b->caps.tools);
    cr_assert(!b->caps.reranker);
    cr_assert_eq(b->caps.context, 32768);
    FAILS("models:\n  a:\n" CMD "    capabilities: {in: [smell]}\n");
    HAS("t.yaml:4: error: models.a.capabilities.in[0]: invalid modality 'smell': use text, audio "
        "or image");
    FAILS("models:\n  a:\n" CMD "    capabilities: {context: -1}\n");
    HAS("t.yaml:4: error: models.a.capabilities.context: must be at least 0, not -1");
    FAILS("models:\n  a:\n" CMD "    timeouts: {connect: -1, bogus: 3}\n");
    HAS("t.yaml:4: error: models.a.timeouts.connect: must be between 0 and 31536000, not -1");
    HAS("t.yaml:4: warning: models.a.timeouts.bogus: unknown key, ignored");
}

Test(config, set_params_by_id_keys_become_aliases)
{
    OK("models:\n  m1:\n" CMD "    aliases: [one]\n"
       "    filters:\n"
       "      setParamsByID:\n"
       "        \"${MODEL_ID}:think\": {reasoning: high, model: x}\n"
       "        one: {temperature: 0.1}\n"
       "        m1: {top_k: 4}\n");
    const gs_model_cfg *m = M("m1");
    cr_assert_eq(m->naliases_written, 1);
    cr_assert_eq(m->naliases, 2);
    cr_assert_str_eq(m->aliases[1], "m1:think");
    cr_assert_eq(gs_config_find(C, "m1:think"), gs_config_find(C, "m1"));
    json_t *t = json_object_get(m->set_params_by_id, "m1:think");
    cr_assert_str_eq(json_string_value(json_object_get(t, "reasoning")), "high");
    cr_assert_null(json_object_get(t, "model"));
    cr_assert(json_real_value(json_object_get(json_object_get(m->set_params_by_id, "one"),
                                              "temperature")) > 0.09);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(m->set_params_by_id, "m1"),
                                                    "top_k")), 4);
    HAS("t.yaml:7: warning: models.m1.filters.setParamsByID.${MODEL_ID}:think.model: the model "
        "name cannot be set here, ignored (see useModelName)");
    FAILS("models:\n  a:\n" CMD "  b:\n" CMD "    filters: {setParamsByID: {a: {x: 1}}}\n");
    HAS("t.yaml:4: error: models.b.filters.setParamsByID.a: duplicate alias a in models a and b");
    FAILS("models:\n  a:\n" CMD "    filters: {setParamsByID: {x: [1]}}\n");
    HAS("t.yaml:4: error: models.a.filters.setParamsByID.x: expected a mapping of parameter names "
        "to values");
}

#define TWO "models:\n  a:\n" CMD "  b:\n" CMD "    aliases: [bee]\n  c:\n" CMD

Test(config, routing_router_groups)
{
    OK(TWO "routing:\n"
           "  router:\n"
           "    use: group\n"
           "    settings:\n"
           "      groups:\n"
           "        g: {swap: false, members: [a, b]}\n");
    cr_assert_eq(C->router, GS_ROUTER_GROUP);
    cr_assert_null(C->matrix);
    cr_assert_eq(C->ngroups, 2);
    cr_assert_str_eq(C->groups[0].id, "g");
    cr_assert(!C->groups[0].swap);
    cr_assert_eq(C->groups[0].nmembers, 2);
    cr_assert_eq(M("a")->group, 0);
    cr_assert_eq(M("c")->group, 1);
    OK(TWO "routing: {router: {settings: {groups: {g: {members: [a]}}}}}\n");
    cr_assert_eq(M("a")->group, 0);
    FAILS(TWO "groups: {g: {members: [a]}}\nrouting: {router: {use: group}}\n");
    HAS("t.yaml:10: error: routing: the legacy top-level groups/matrix and routing.router are both "
        "set; move them into routing.router.settings");
    FAILS(TWO "routing: {router: {use: lru}}\n");
    HAS("t.yaml:9: error: routing.router.use: unknown router \"lru\" (valid: group, matrix)");
    FAILS(TWO "routing:\n  router:\n    settings:\n      groups: {g: {members: [zz]}}\n");
    HAS("t.yaml:12: error: routing.router.settings.groups.g.members[0]: unknown model zz");
}

Test(config, routing_router_matrix)
{
    OK(TWO "routing:\n"
           "  router:\n"
           "    use: matrix\n"
           "    settings:\n"
           "      matrix:\n"
           "        vars: {A: a, b.2: b}\n"
           "        evict_costs: {A: 5, c: 2}\n"
           "        sets:\n"
           "          pair: \"A & b.2\"\n"
           "          solo: \"c | +pair\"\n");
    cr_assert_eq(C->router, GS_ROUTER_MATRIX);
    cr_assert_not_null(C->matrix);
    cr_assert_eq(C->matrix->nvars, 2);
    cr_assert_str_eq(C->matrix->vars[0].name, "A");
    cr_assert_eq(C->matrix->vars[0].model, gs_config_find(C, "a"));
    cr_assert_eq(C->matrix->ncosts, 2);
    cr_assert_eq(C->matrix->costs[0].model, gs_config_find(C, "a"));
    cr_assert_eq(C->matrix->costs[0].cost, 5);
    cr_assert_eq(C->matrix->costs[1].model, gs_config_find(C, "c"));
    cr_assert_eq(C->matrix->nsets, 2);
    cr_assert_str_eq(C->matrix->sets[0].name, "pair");
    cr_assert_str_eq(C->matrix->sets[0].dsl, "A & b.2");
    cr_assert_eq(C->matrix->sets[0].line, 17);
    cr_assert_str_eq(C->matrix->sets[1].dsl, "c | +pair");
    /* every model still has a group, the one "(default)" */
    cr_assert_eq(C->ngroups, 1);
    /* the legacy top-level form */
    OK(TWO "matrix:\n  sets: {s: \"a & b\"}\n");
    cr_assert_eq(C->router, GS_ROUTER_MATRIX);
    cr_assert_eq(C->matrix->line, 9);
    FAILS(TWO "routing: {router: {use: matrix}}\n");
    HAS("t.yaml:9: error: routing.router.use: is 'matrix' but routing.router.settings.matrix is "
        "not set");
    FAILS(TWO "matrix:\n  vars: {x: bee, \"bad/name\": a}\n  evict_costs: {zz: 1, a: 0}\n");
    HAS("t.yaml:10: error: matrix.vars.x: references unknown model \"bee\" (a model id, not an "
        "alias)");
    HAS("t.yaml:10: error: matrix.vars.bad/name: a var name holds 1 to 32 letters, digits, '-' "
        "or '.'");
    HAS("t.yaml:11: error: matrix.evict_costs.zz: unknown var or model \"zz\"");
    HAS("t.yaml:11: error: matrix.evict_costs.a: must be at least 1, not 0");
    HAS("t.yaml:9: error: matrix: a matrix must define at least one set");
    FAILS(TWO "groups: {g: {members: [a]}}\nmatrix: {sets: {s: a}}\n");
    HAS("t.yaml:10: error: matrix: a config cannot use both groups and matrix");
}

Test(config, scheduler_priority)
{
    OK(TWO "routing:\n  scheduler:\n    use: fifo\n    settings:\n      fifo:\n"
           "        priority: {a: 10, bee: -1}\n");
    cr_assert_eq(M("a")->priority, 10);
    cr_assert_eq(M("b")->priority, -1);
    cr_assert_eq(M("c")->priority, 0);
    FAILS(TWO "routing: {scheduler: {use: lifo, settings: {fifo: {priority: {zz: 1}}}}}\n");
    HAS("t.yaml:9: error: routing.scheduler.use: unknown scheduler \"lifo\" (valid: fifo)");
    HAS("t.yaml:9: error: routing.scheduler.settings.fifo.priority.zz: references unknown model "
        "\"zz\"");
}

Test(config, peers)
{
    setenv("GS_TEST_PEER_KEY", "sk-123", 1);
    OK(TWO "peers:\n"
           "  remote:\n"
           "    proxy: https://openrouter.ai/api/\n"
           "    apiKey: ${env.GS_TEST_PEER_KEY}\n"
           "    models: [far, shared, far]\n"
           "    filters: {stripParams: \"seed, top_k\", setParams: {temperature: 0.5}}\n"
           "    timeouts: {connect: 3}\n"
           "  lan:\n"
           "    proxy: http://[::1]:8092\n"
           "    models: [shared, a]\n");
    cr_assert_eq(C->npeers, 2);
    const gs_peer_cfg *lan = &C->peers[0], *r = &C->peers[1];
    cr_assert_str_eq(lan->id, "lan");
    cr_assert(!lan->tls);
    cr_assert_str_eq(lan->proxy_host, "::1");
    cr_assert_eq(lan->proxy_port, 8092);
    cr_assert_null(lan->api_key);
    cr_assert_eq(lan->timeouts.response_header, 60);
    cr_assert_str_eq(r->proxy, "https://openrouter.ai/api");
    cr_assert(r->tls);
    cr_assert_str_eq(r->proxy_host, "openrouter.ai");
    cr_assert_eq(r->proxy_port, 443);
    cr_assert_str_eq(r->proxy_path, "/api");
    cr_assert_str_eq(r->api_key, "sk-123");
    cr_assert_eq(r->nmodels, 2);
    cr_assert_eq(r->nstrip, 2);
    cr_assert_eq(r->timeouts.connect, 3);
    cr_assert_not_null(json_object_get(r->set_params, "temperature"));
    const char *pm = NULL;
    cr_assert_eq(gs_config_find_peer(C, "remote/far", &pm), 1);
    cr_assert_str_eq(pm, "far");
    cr_assert_eq(gs_config_find_peer(C, "far", &pm), 1);
    cr_assert_eq(gs_config_find_peer(C, "lan/shared", &pm), 0);
    cr_assert_eq(gs_config_find_peer(C, "shared", &pm), -1, "two peers list it");
    cr_assert_eq(gs_config_find_peer(C, "lan/a", &pm), 0);
    cr_assert_eq(gs_config_find(C, "a"), 0, "local wins for the bare name");
    FAILS(TWO "peers:\n  p: {apiKey: x}\n  q: {proxy: ftp://x, models: [m]}\n");
    HAS("t.yaml:10: error: peers.p: proxy is required (the peer's base URL)");
    HAS("t.yaml:10: error: peers.p: models cannot be empty: list the models the peer serves");
    HAS("t.yaml:11: error: peers.q.proxy: invalid proxy URL: expected http:// or https://, not "
        "'ftp://x'");
    FAILS("models:\n  p/m:\n" CMD "peers:\n  p: {proxy: http://h:1, models: [m]}\n");
    HAS("t.yaml:5: error: peers.p.models: model id or alias p/m conflicts with the peer model "
        "name");
}

#define PEERED TWO "peers: {far: {proxy: http://h:1, models: [x]}}\n"

Test(config, selectors)
{
    OK(PEERED "routing: {router: {settings: {groups: {g: {swap: false, members: [a, b]}}}}}\n"
              "selectors:\n"
              "  coder:\n"
              "    strategy: spillover\n"
              "    targets: [a, bee, far/x]\n"
              "    settings: {spillover: 2}\n"
              "    name: Coder\n"
              "    unlisted: true\n"
              "    metadata: {k: 1}\n"
              "  chat: {strategy: warm, targets: [c, a]}\n"
              "  fixed: {strategy: pin, targets: [x]}\n");
    cr_assert_eq(C->nselectors, 3);
    int i = gs_config_find_selector(C, "coder");
    cr_assert_geq(i, 0);
    const gs_selector_cfg *s = &C->selectors[i];
    cr_assert_eq(s->strategy, GS_SELECT_SPILLOVER);
    cr_assert_eq(s->ntargets, 3);
    cr_assert_eq(s->spillover, 2);
    cr_assert_str_eq(s->name, "Coder");
    cr_assert(s->unlisted);
    cr_assert_not_null(json_object_get(s->metadata, "k"));
    cr_assert_eq(C->selectors[gs_config_find_selector(C, "chat")].strategy, GS_SELECT_WARM);
    cr_assert_eq(C->selectors[gs_config_find_selector(C, "chat")].spillover, 1);
    cr_assert_eq(C->selectors[gs_config_find_selector(C, "fixed")].strategy, GS_SELECT_PIN);

    FAILS(PEERED "selectors:\n"
                 "  a: {strategy: pin, targets: [b]}\n"
                 "  s1: {targets: [b]}\n"
                 "  s2: {strategy: best, targets: []}\n"
                 "  s3: {strategy: warm, targets: [x, zz, s1]}\n"
                 "  s4: {strategy: spillover, targets: [a, c], settings: {spillover: 0}}\n"
                 "  s5: {strategy: spillover, targets: [b, bee]}\n");
    HAS("t.yaml:11: error: selectors.a: the name is already a model id or alias");
    HAS("t.yaml:12: error: selectors.s1: strategy is required (warm, pin or spillover)");
    HAS("t.yaml:13: error: selectors.s2.strategy: unknown strategy \"best\" (valid: warm, pin, "
        "spillover)");
    HAS("t.yaml:13: error: selectors.s2: targets must list at least one model");
    HAS("t.yaml:14: error: selectors.s3.targets[0]: must be a local model for strategy warm");
    HAS("t.yaml:14: error: selectors.s3.targets[1]: references unknown model \"zz\"");
    HAS("t.yaml:14: error: selectors.s3.targets[2]: names selector s1; a selector cannot target a "
        "selector");
    HAS("t.yaml:15: error: selectors.s4: settings.spillover must be at least 1, not 0");
    HAS("t.yaml:15: error: selectors.s4: spillover targets must share one group with swap: false");
    HAS("t.yaml:16: error: selectors.s5.targets[1]: targets the same model as targets[0]");
}

Test(config, profiles)
{
    OK(PEERED "selectors: {sel: {strategy: pin, targets: [a]}}\n"
              "profiles:\n"
              "  night:\n"
              "    description: small models\n"
              "    pins: {gpt-4: c, old: ~, \"far\": sel, x2: far/x}\n");
    cr_assert_eq(C->nprofiles, 1);
    const gs_profile_cfg *p = &C->profiles[0];
    cr_assert_str_eq(p->id, "night");
    cr_assert_str_eq(p->description, "small models");
    cr_assert_eq(p->npins, 4);
    cr_assert_str_eq(p->pins[0].from, "gpt-4");
    cr_assert_str_eq(p->pins[0].to, "c");
    cr_assert_null(p->pins[1].to);
    cr_assert_eq(gs_config_find_profile(C, "night"), 0);
    FAILS(PEERED "profiles:\n  p1: {pins: {}}\n  p2: [a, b]\n  p3: {pins: {y: zz, far/x: a}}\n");
    HAS("t.yaml:11: error: profiles.p1: pins must hold at least one entry");
    HAS("t.yaml:12: error: profiles.p2: a profile must be a mapping with description and pins; the "
        "old list form is no longer supported");
    HAS("t.yaml:13: error: profiles.p3.pins.y: references unknown model \"zz\"");
    HAS("t.yaml:13: error: profiles.p3.pins.far/x: the name is already a peer model name");
}

/* ------------------------------------------------------------------ ggswap's own keys */

Test(config, sizes)
{
    static const struct {
        const char *s;
        long long want;
    } cases[] = {
        {"0", 0},
        {"512", 512},
        {"512MiB", 512LL << 20},
        {"24GiB", 24LL << 30},
        {"24gib", 24LL << 30},
        {"6GB", 6000000000LL},
        {"1.5G", 3LL << 29},
        {"100 MB", 100000000LL},
        {"2k", 2048},
        {"1TiB", 1LL << 40},
        {"", -1},
        {"GiB", -1},
        {"-1GiB", -1},
        {"12XB", -1},
        {"1e30", -1},
        {"auto", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(gs_config_parse_size(cases[i].s), cases[i].want, "%s", cases[i].s);
}

Test(config, memory)
{
    OK("models: {}\n");
    cr_assert(!C->memory.enabled);
    OK("memory:\n");
    cr_assert(C->memory.enabled);
    cr_assert(C->memory.ram_auto);
    cr_assert(C->memory.gpu_auto);
    cr_assert_eq(C->memory.margin, 1LL << 30);
    OK("memory: {ram: 24GiB, gpu: [8GiB, 12GiB], margin: 512MiB}\n");
    cr_assert(C->memory.enabled);
    cr_assert(!C->memory.ram_auto);
    cr_assert_eq(C->memory.ram, 24LL << 30);
    cr_assert(!C->memory.gpu_auto);
    cr_assert_eq(C->memory.ngpu, 2);
    cr_assert_eq(C->memory.gpu[1], 12LL << 30);
    cr_assert_eq(C->memory.margin, 512LL << 20);
    OK("memory: {ram: auto, gpu: []}\n");
    cr_assert(C->memory.ram_auto);
    cr_assert(!C->memory.gpu_auto);
    cr_assert_eq(C->memory.ngpu, 0);
    OK("memory: false\n");
    cr_assert(!C->memory.enabled);
    FAILS("memory: {ram: lots, gpu: [1GiB, x], margin: -1}\n");
    HAS("t.yaml:1: error: memory.ram: expected a size such as 6GiB or 512MiB, not 'lots'");
    HAS("t.yaml:1: error: memory.gpu[1]: expected a size such as 6GiB or 512MiB, not 'x'");
    HAS("t.yaml:1: error: memory.margin: expected a size such as 6GiB or 512MiB, not '-1'");
    FAILS("memory: [1]\n");
    HAS("t.yaml:1: error: memory: expected a mapping of ram, gpu and margin, or true/false");
}

Test(config, model_memory_and_swappable)
{
    OK("models:\n  a:\n" CMD "  b:\n" CMD "    memory: 6GiB\n    swappable: false\n");
    cr_assert_eq(M("a")->memory, 0);
    cr_assert(M("a")->swappable);
    cr_assert_eq(M("b")->memory, 6LL << 30);
    cr_assert(!M("b")->swappable);
    FAILS("models:\n  a:\n" CMD "    memory: big\n    swappable: sometimes\n");
    HAS("t.yaml:4: error: models.a.memory: expected a size such as 6GiB or 512MiB, not 'big'");
    HAS("t.yaml:5: error: models.a.swappable: expected true or false, not 'sometimes'");
}

Test(config, slot_cache)
{
    OK("models:\n  a:\n" CMD "  b:\n" CMD "    slotCache: true\n");
    cr_assert(!C->slot_cache.enabled);
    cr_assert_eq(C->slot_cache.max_size, 8LL << 30);
    cr_assert_eq(C->slot_cache.save_timeout_ms, 5000);
    cr_assert_null(C->slot_cache.path);
    cr_assert(!M("a")->slot_cache);
    cr_assert(M("b")->slot_cache);
    OK("slotCache: true\nmodels:\n  a:\n" CMD "  b:\n" CMD "    slotCache: false\n");
    cr_assert(C->slot_cache.enabled);
    cr_assert(M("a")->slot_cache);
    cr_assert(!M("b")->slot_cache);
    OK("slotCache: {maxSize: 2GiB, saveTimeout: 2.5, path: /tmp/slots}\n");
    cr_assert(C->slot_cache.enabled);
    cr_assert_eq(C->slot_cache.max_size, 2LL << 30);
    cr_assert_eq(C->slot_cache.save_timeout_ms, 2500);
    cr_assert_str_eq(C->slot_cache.path, "/tmp/slots");
    OK("slotCache: {enabled: false}\n");
    cr_assert(!C->slot_cache.enabled);
    FAILS("slotCache: {maxSize: huge, saveTimeout: -1, bogus: 1}\n");
    HAS("t.yaml:1: error: slotCache.maxSize: expected a size such as 6GiB or 512MiB, not 'huge'");
    HAS("t.yaml:1: error: slotCache.saveTimeout: expected seconds from 0 to 86400, not '-1'");
    HAS("t.yaml:1: warning: slotCache.bogus: unknown key, ignored");
    FAILS("slotCache: perhaps\n");
    HAS("t.yaml:1: error: slotCache: expected true or false, not 'perhaps'");
}

/* ------------------------------------------------------------------ key table */

/* One row per key of the key tables: a file, then what one field holds after loading it, or the
 * exact diagnostic (with its line) that the value gives. Warnings still load. */
typedef long long (*getter)(const gs_config *c);
typedef const char *(*sgetter)(const gs_config *c);

typedef struct key_case {
    const char *yaml;
    getter get;          /* the field, as a number (bool, int, size, ms, enum) */
    long long want;
    sgetter gets;        /* or as a string; want_s NULL: the field is NULL */
    const char *want_s;
    const char *diag;    /* an error: the load fails with it; a warning: it loads with it */
} key_case;

#define G(name, expr)                                                                   \
    static long long name(const gs_config *c)                                           \
    {                                                                                   \
        return (long long)(expr);                                                       \
    }
#define GS(name, expr)                                                                  \
    static const char *name(const gs_config *c)                                         \
    {                                                                                   \
        return (expr);                                                                  \
    }
#define M0 (&c->models[0])
G(m_ttl, M0->ttl)
G(m_conc, M0->concurrency_limit)
G(m_unlisted, M0->unlisted)
G(m_memory, M0->memory)
G(m_swappable, M0->swappable)
G(m_unload, M0->unload_timeout)
G(m_sls, M0->send_loading_state)
G(m_slot, M0->slot_cache)
G(m_connect, M0->timeouts.connect)
G(m_context, M0->caps.context)
G(m_caps_set, M0->caps.set)
G(m_ws, M0->ignore_websockets)
G(m_port, M0->proxy_port)
G(m_naliases, M0->naliases)
G(m_nenv, M0->nenv)
G(m_argc, M0->argc)
GS(m_use, M0->use_model_name)
GS(m_name, M0->name)
GS(m_desc, M0->description)
GS(m_check, M0->check_endpoint)
GS(m_stop, M0->cmd_stop)
GS(m_proxy, M0->proxy)
G(t_health, c->health_check_timeout)
G(t_start, c->start_port)
G(t_gttl, c->global_ttl)
G(t_unload, c->unload_timeout)
G(t_sls, c->send_loading_state)
G(t_incl, c->include_aliases_in_list)
G(t_stdout, c->log_to_stdout)
G(t_nkeys, c->napi_keys)
G(t_mem_on, c->memory.enabled)
G(t_margin, c->memory.margin)
G(t_ram, c->memory.ram_auto ? -1 : c->memory.ram)
G(t_ngpu, c->memory.gpu_auto ? -1 : c->memory.ngpu)
G(t_sc_on, c->slot_cache.enabled)
G(t_sc_max, c->slot_cache.max_size)
G(t_sc_ms, c->slot_cache.save_timeout_ms)
G(t_norigins, c->cors_origins ? c->ncors_origins : -1)
G(t_npreload, c->npreload)
G(t_nignore, c->nignore_paths)
G(g_swap, c->groups[0].swap)
G(g_excl, c->groups[0].exclusive)
G(g_pers, c->groups[0].persistent)
G(p_port, c->peers[0].proxy_port)
G(p_tls, c->peers[0].tls)
G(p_rh, c->peers[0].timeouts.response_header)
G(s_strategy, c->selectors[0].strategy)
G(s_spill, c->selectors[0].spillover)
G(s_unlisted, c->selectors[0].unlisted)
G(r_router, c->router)
G(r_prio, M0->priority)
GS(t_level, c->log_level)
GS(t_sc_path, c->slot_cache.path)
GS(p_key, c->peers[0].api_key)
GS(pr_desc, c->profiles[0].description)

#define ONE "models:\n  m:\n    cmd: s --port ${PORT}\n" /* keys below start at line 4 */
#define PEER "peers:\n  p:\n    models: [x]\n"           /* keys below start at line 4 */
#define SEL ONE "selectors:\n  s:\n    targets: [m]\n"     /* keys below start at line 7 */

/* Rows name only the fields they check; the rest are zero on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const key_case key_cases[] = {
    /* model keys */
    {ONE "    ttl: 60\n", m_ttl, 60},
    {"globalTTL: 30\n" ONE "    ttl: -1\n", m_ttl, 30},
    {ONE "    ttl: -2\n", .diag = "t.yaml:4: error: models.m.ttl: invalid TTL value -2: use "
                                  "seconds, 0 for never, or -1 for globalTTL"},
    {ONE "    ttl: soon\n", .diag = "t.yaml:4: error: models.m.ttl: expected a whole number, "
                                    "not 'soon'"},
    {"macros: {T: 42}\n" ONE "    ttl: ${T}\n", m_ttl, 42},
    {ONE "    concurrencyLimit: 0\n", m_conc, 10},
    {ONE "    concurrencyLimit: 3\n", m_conc, 3},
    {ONE "    concurrencyLimit: 1000001\n",
     .diag = "t.yaml:4: error: models.m.concurrencyLimit: must be between 0 and 1000000, not "
             "1000001"},
    {ONE "    unlisted: yes\n", m_unlisted, 1},
    {ONE "    unlisted: maybe\n",
     .diag = "t.yaml:4: error: models.m.unlisted: expected true or false, not 'maybe'"},
    {ONE "    memory: 6GiB\n", m_memory, 6LL << 30},
    {ONE "    memory: lots\n",
     .diag = "t.yaml:4: error: models.m.memory: expected a size such as 6GiB or 512MiB, not "
             "'lots'"},
    {ONE "    swappable: false\n", m_swappable, 0},
    {ONE "    unloadTimeout: 0\n", m_unload, 10},
    {"unloadTimeout: 4\n" ONE, m_unload, 4},
    {ONE "    unloadTimeout: 5\n", m_unload, 5},
    {ONE "    unloadTimeout: 86401\n",
     .diag = "t.yaml:4: error: models.m.unloadTimeout: must be between 0 and 86400, not 86401"},
    {"sendLoadingState: true\n" ONE, m_sls, 1},
    {"sendLoadingState: true\n" ONE "    sendLoadingState: false\n", m_sls, 0},
    {"slotCache: true\n" ONE "    slotCache: ~\n", m_slot, 1},
    {ONE "    slotCache: true\n", m_slot, 1},
    {ONE "    timeouts: {connect: 5}\n", m_connect, 5},
    {ONE "    timeouts: [5]\n",
     .diag = "t.yaml:4: error: models.m.timeouts: expected a mapping of connect, keepalive, "
             "responseHeader, tlsHandshake, expectContinue, idleConn (seconds)"},
    {ONE "    capabilities: {context: 4096}\n", m_context, 4096},
    {ONE "    capabilities: {}\n", m_caps_set, 0},
    {ONE "    capabilities: {tools: true}\n", m_caps_set, 1},
    {ONE "    capabilities: {in: [text, smell]}\n",
     .diag = "t.yaml:4: error: models.m.capabilities.in[1]: invalid modality 'smell': use "
             "text, audio or image"},
    {ONE "    compat: {ignoreWebsockets: true}\n", m_ws, 1},
    {ONE "    compat: {other: true}\n", m_ws, 0,
     .diag = "t.yaml:4: warning: models.m.compat.other: unknown key, ignored"},
    {ONE "    aliases: [a, b]\n", m_naliases, 2},
    {ONE "    aliases: [\"\"]\n", .diag = "t.yaml:4: error: models.m.aliases[0]: an alias cannot "
                                          "be empty"},
    {ONE "    aliases: ['my\"alias']\n",
     .diag = "t.yaml:4: error: models.m.aliases[0]: an alias cannot hold control characters, "
             "quotes or backslashes"},
    {ONE "    env: [A=1, B=2]\n", m_nenv, 2},
    {ONE "    env: [1A=x]\n", .diag = "t.yaml:4: error: models.m.env[0]: expected NAME=value, "
                                      "not '1A=x'"},
    {ONE "    useModelName: \"\"\n", .gets = m_use, .want_s = NULL},
    {ONE "    useModelName: up-${MODEL_ID}\n", .gets = m_use, .want_s = "up-m"},
    {ONE "    name: ${MODEL_ID}\n", .gets = m_name, .want_s = "m"},
    {ONE "    description: d\n", .gets = m_desc, .want_s = "d"},
    {ONE "    checkEndpoint: ready\n", .gets = m_check, .want_s = "/ready"},
    {ONE "    checkEndpoint: none\n", .gets = m_check, .want_s = NULL},
    {ONE "    checkEndpoint: /a b\n",
     .diag = "t.yaml:4: error: models.m.checkEndpoint: must be a path without spaces or "
             "control characters"},
    {ONE "    cmdStop: kill ${PID}\n", .gets = m_stop, .want_s = "kill ${PID}"},
    {ONE "    cmdStop: \"# only a comment\"\n", .gets = m_stop, .want_s = NULL},
    {ONE "    proxy: http://127.0.0.1:${PORT}/\n", .gets = m_proxy,
     .want_s = "http://127.0.0.1:5800"},
    {ONE "    proxy: https://x\n",
     .diag = "t.yaml:4: error: models.m.proxy: only http:// upstreams are supported, not "
             "'https://x'"},
    {ONE "    healthCheckTimeout: 5\n", m_argc, 3,
     .diag = "t.yaml:4: warning: models.m.healthCheckTimeout: not supported by ggswap, ignored"},
    {ONE "    colour: red\n", m_argc, 3,
     .diag = "t.yaml:4: warning: models.m.colour: unknown key, ignored"},
    /* top-level keys */
    {"healthCheckTimeout: 5\n", t_health, 15},
    {"healthCheckTimeout: 200\n", t_health, 200},
    {"startPort: 6000\n" ONE, m_port, 6000},
    {"startPort: 70000\n",
     .diag = "t.yaml:1: error: startPort: must be between 1 and 65535, not 70000"},
    {"macros: {P: 7000}\nstartPort: ${P}\n", t_start, 7000},
    {"globalTTL: 30\n", t_gttl, 30},
    {"globalTTL: -1\n", .diag = "t.yaml:1: error: globalTTL: must be at least 0, not -1"},
    {"unloadTimeout: 0\n", t_unload, 10},
    {"unloadTimeout: 7\n", t_unload, 7},
    {"sendLoadingState: on\n", t_sls, 1},
    {"includeAliasesInList: true\n", t_incl, 1},
    {"logToStdout: both\n", t_stdout, GS_LOG_STDOUT_BOTH},
    {"logToStdout: nope\n", .diag = "t.yaml:1: error: logToStdout: must be one of: proxy, "
                                    "upstream, both, none; not 'nope'"},
    {"logLevel: debug\n", .gets = t_level, .want_s = "debug"},
    {"logLevel: WARNING\n", .gets = t_level, .want_s = "warn"},
    {"logLevel: Error\n", .gets = t_level, .want_s = "error"},
    {"logLevel: loud\n", .gets = t_level, .want_s = "info",
     .diag = "t.yaml:1: warning: logLevel: unknown level 'loud' (debug, info, warn, error), "
             "using info"},
    {"apiKeys: [k1, k2]\n", t_nkeys, 2},
    {"apiKeys: [\"a b\"]\n", .diag = "t.yaml:1: error: apiKeys[0]: api key cannot contain "
                                     "spaces"},
    {"memory: false\n", t_mem_on, 0},
    {"memory:\n", t_mem_on, 1},
    {"memory: {margin: 2GiB}\n", t_margin, 2LL << 30},
    {"memory: {ram: 24GiB}\n", t_ram, 24LL << 30},
    {"memory: {gpu: [8GiB, 8GiB]}\n", t_ngpu, 2},
    {"memory: [1]\n", .diag = "t.yaml:1: error: memory: expected a mapping of ram, gpu and "
                              "margin, or true/false"},
    {"slotCache: {maxSize: 1GiB}\n", t_sc_max, 1LL << 30},
    {"slotCache: {saveTimeout: 1.5}\n", t_sc_ms, 1500},
    {"slotCache: {path: \"\"}\n", t_sc_on, 1},
    {"slotCache: {path: /tmp/s}\n", .gets = t_sc_path, .want_s = "/tmp/s"},
    {"slotCache: {saveTimeout: 90000}\n",
     .diag = "t.yaml:1: error: slotCache.saveTimeout: expected seconds from 0 to 86400, not "
             "'90000'"},
    {"cors: {origins: []}\n", t_norigins, 0},
    {"cors: {origins: [\"*\"], other: 1}\n", t_norigins, 1,
     .diag = "t.yaml:1: warning: cors.other: unknown key, ignored"},
    {"upstream: {ignorePaths: [a, b]}\n", t_nignore, 2},
    {"upstream: {ignorePaths: [\"(\"]}\n",
     .diag = "t.yaml:1: error: upstream.ignorePaths[0]: invalid regular expression '(': "
             "Unmatched ( or \\("},
    {"store: {place: x}\n", t_nignore, 1,
     .diag = "t.yaml:1: warning: store.place: unknown key, ignored"},
    {ONE "hooks:\n  on_startup:\n    preload: [m, m]\n", t_npreload, 1},
    {ONE "hooks:\n  on_startup:\n    preload: [zz]\n", t_npreload, 0,
     .diag = "t.yaml:6: warning: hooks.on_startup.preload[0]: unknown model zz, ignored"},
    {"ui: {}\n", t_health, 120,
     .diag = "t.yaml:1: warning: ui: not supported by ggswap, ignored"},
    {"bogus: 1\n", t_health, 120, .diag = "t.yaml:1: warning: bogus: unknown key, ignored"},
    /* group keys */
    {ONE "groups:\n  g:\n    swap: false\n    members: [m]\n", g_swap, 0},
    {ONE "groups:\n  g:\n    exclusive: false\n    members: [m]\n", g_excl, 0},
    {ONE "groups:\n  g:\n    persistent: true\n    members: [m]\n", g_pers, 1},
    {ONE "groups:\n  g:\n    members: [m]\n    colour: red\n", g_swap, 1,
     .diag = "t.yaml:7: warning: groups.g.colour: unknown key, ignored"},
    {ONE "groups:\n  g:\n    members: [zz]\n",
     .diag = "t.yaml:6: error: groups.g.members[0]: unknown model zz"},
    {ONE "groups:\n  g: [m]\n", .diag = "t.yaml:5: error: groups.g: expected a mapping with "
                                        "members"},
    /* routing */
    {ONE "routing:\n  router:\n    use: matrix\n    settings:\n      matrix:\n"
         "        sets: {all: m}\n",
     r_router, GS_ROUTER_MATRIX},
    {ONE "routing:\n  scheduler:\n    use: lifo\n",
     .diag = "t.yaml:6: error: routing.scheduler.use: unknown scheduler \"lifo\" (valid: fifo)"},
    {ONE "routing:\n  scheduler:\n    settings:\n      fifo:\n        priority: {m: 5}\n",
     r_prio, 5},
    {ONE "routing:\n  router:\n    speed: 1\n", r_router, GS_ROUTER_GROUP,
     .diag = "t.yaml:6: warning: routing.router.speed: unknown key, ignored"},
    /* peer keys */
    {PEER "    proxy: https://h\n", p_port, 443},
    {PEER "    proxy: https://h\n", p_tls, 1},
    {PEER "    proxy: http://h:81\n    timeouts: {responseHeader: 9}\n", p_rh, 9},
    {PEER "    proxy: http://h\n", p_rh, 60},
    {PEER "    proxy: http://h\n    apiKey: \"\"\n", .gets = p_key, .want_s = NULL},
    {PEER "    proxy: http://h\n    apiKey: k\n", .gets = p_key, .want_s = "k"},
    {PEER "    proxy: ftp://h\n", .diag = "t.yaml:4: error: peers.p.proxy: invalid proxy URL: "
                                           "expected http:// or https://, not 'ftp://h'"},
    {PEER "    proxy: http://h\n    colour: red\n", p_port, 80,
     .diag = "t.yaml:5: warning: peers.p.colour: unknown key, ignored"},
    /* selector keys */
    {SEL "    strategy: spillover\n", s_strategy, GS_SELECT_SPILLOVER},
    {SEL "    strategy: pin\n    settings: {spillover: 3}\n", s_spill, 3},
    {SEL "    strategy: pin\n    unlisted: true\n", s_unlisted, 1},
    {SEL "    strategy: best\n", .diag = "t.yaml:7: error: selectors.s.strategy: unknown "
                                         "strategy \"best\" (valid: warm, pin, spillover)"},
    {SEL "    strategy: pin\n    colour: red\n", s_strategy, GS_SELECT_PIN,
     .diag = "t.yaml:8: warning: selectors.s.colour: unknown key, ignored"},
    /* profile keys */
    {ONE "profiles:\n  p:\n    description: fast\n    pins: {a: m}\n", .gets = pr_desc,
     .want_s = "fast"},
    {ONE "profiles:\n  p:\n    pins: {a: zz}\n",
     .diag = "t.yaml:6: error: profiles.p.pins.a: references unknown model \"zz\""},
};
#pragma GCC diagnostic pop

Test(config, key_table)
{
    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        const key_case *k = &key_cases[i];
        int rc = parse(k->yaml);
        bool is_error = k->diag && strstr(k->diag, ": error: ");
        if (is_error) {
            cr_assert_eq(rc, -EINVAL, "case %zu should fail:\n%s", i, k->yaml);
            cr_assert(has(k->diag), "case %zu: missing\n  %s\ngot:\n%s", i, k->diag, all());
            continue;
        }
        cr_assert_eq(rc, 0, "case %zu should load:\n%s\n%s", i, k->yaml, all());
        if (k->diag)
            cr_assert(has(k->diag), "case %zu: missing\n  %s\ngot:\n%s", i, k->diag, all());
        else
            cr_assert_eq(D.n, 0, "case %zu: unexpected\n%s", i, all());
        if (k->get)
            cr_assert_eq(k->get(C), k->want, "case %zu: got %lld, want %lld\n%s", i, k->get(C),
                         k->want, k->yaml);
        if (k->gets && k->want_s)
            cr_assert(k->gets(C) && !strcmp(k->gets(C), k->want_s),
                      "case %zu: got '%s', want '%s'\n%s", i, k->gets(C) ? k->gets(C) : "(null)",
                      k->want_s, k->yaml);
        else if (k->gets)
            cr_assert_null(k->gets(C), "case %zu: got '%s', want NULL\n%s", i, k->gets(C),
                           k->yaml);
    }
}

/* A NUL byte or bytes that are not UTF-8 never reach libfyaml, in any reader: libfyaml 0.7
 * stops at a NUL (the rest of the file was silently lost) and loops forever on "%\xff" (a
 * -config-dir file hung `config check` and `serve`). */
Test(config, nul_and_bad_bytes_in_every_reader, .timeout = 10)
{
    static const char nul[] = "logLevel: debug\n\0\nbogus: 1\n";
    int rc = gs_config_parse(nul, sizeof(nul) - 1, "t.yaml", &C, &D);
    cr_assert_eq(rc, -EINVAL);
    cr_assert_null(C);
    HAS("t.yaml:2: error: yaml: the file holds a NUL byte; YAML is text");

    char dir[] = "/tmp/ggswap-confdir-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *bad = gs_mem_printf("%s/bad.yaml", dir);
    FILE *f = fopen(bad, "w");
    cr_assert_not_null(f);
    fputs("models: {}\n%\xff", f);
    fclose(f);
    gs_diag_free(&D);
    rc = gs_confdir_load(NULL, dir, &C, &D);
    cr_assert_eq(rc, -EINVAL, "rc %d:\n%s", rc, all());
    char *want = gs_mem_printf("%s:2: error: yaml: the file is not valid UTF-8 text", bad);
    HAS(want);
    unlink(bad);
    rmdir(dir);
    free(want);
    free(bad);
}
