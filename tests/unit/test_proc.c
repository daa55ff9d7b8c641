/* The model process state machine, with real children: every transition is observed through
 * the state callback, in order. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "helpers.h"
#include "proc.h"

#define MAXT 16

typedef struct trace {
    gs_proc_state seen[MAXT];
    int n;
    uv_loop_t *loop;
    gs_proc_state stop_at;
} trace;

static void on_state(gs_proc *p, gs_proc_state old, void *ud)
{
    trace *t = ud;
    if (t->n < MAXT)
        t->seen[t->n++] = p->state;
    if (p->state == t->stop_at)
        uv_stop(t->loop);
}

static void stop_loop_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void run_for(uv_loop_t *loop, unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, stop_loop_cb, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Run until the trace reaches stop_at, or the deadline. */
static void run_until(trace *t, gs_proc_state st, unsigned ms)
{
    t->stop_at = st;
    uv_timer_t tm;
    uv_timer_init(t->loop, &tm);
    uv_timer_start(&tm, stop_loop_cb, ms, 0);
    uv_run(t->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&tm, NULL);
    uv_run(t->loop, UV_RUN_NOWAIT);
}

static void finish(trace *t, gs_proc *p, gs_config *c)
{
    gs_proc_free(p);
    /* Let the child go and every handle close. */
    for (int i = 0; i < 200 && uv_loop_alive(t->loop); i++)
        uv_run(t->loop, UV_RUN_NOWAIT), usleep(5000);
    gs_config_free(c);
    cr_assert_eq(uv_loop_close(t->loop), 0, "handles left open");
}

static const char *fake(void)
{
    const char *f = getenv("FAKE_UPSTREAM");
    return f ? f : "build/asan/fake-upstream";
}

Test(proc, ready_then_stopped)
{
    char y[512];
    snprintf(y, sizeof y,
             "startPort: 31711\nmodels:\n  m:\n    cmd: %s --port ${PORT} --health-delay 50\n",
             fake());
    gs_config *c = test_config(y);
    uv_loop_t loop;
    uv_loop_init(&loop);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 15, on_state, &t);
    cr_assert_eq(gs_proc_start(p), 0);
    run_until(&t, GS_PROC_READY, 10000);
    cr_assert_eq(p->state, GS_PROC_READY, "state %s: %s", gs_proc_state_name(p->state),
                 p->error ? p->error : "");
    gs_proc_stop(p, "test");
    run_until(&t, GS_PROC_STOPPED, 10000);
    cr_assert_eq(t.n, 4);
    cr_assert_eq(t.seen[0], GS_PROC_STARTING);
    cr_assert_eq(t.seen[1], GS_PROC_READY);
    cr_assert_eq(t.seen[2], GS_PROC_STOPPING);
    cr_assert_eq(t.seen[3], GS_PROC_STOPPED);
    cr_assert_not(gs_proc_alive(p));
    finish(&t, p, c);
}

Test(proc, exit_while_starting_fails_with_log_tail)
{
    char y[512];
    snprintf(y, sizeof y,
             "startPort: 31712\nmodels:\n  m:\n    cmd: |\n      %s --port ${PORT} --fail-start "
             "\"error loading model: bad magic\"\n",
             fake());
    gs_config *c = test_config(y);
    uv_loop_t loop;
    uv_loop_init(&loop);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 15, on_state, &t);
    gs_proc_start(p);
    run_until(&t, GS_PROC_FAILED, 10000);
    cr_assert_eq(p->state, GS_PROC_FAILED);
    cr_assert(p->error && strstr(p->error, "bad magic"), "error: %s", p->error);
    cr_assert(strstr(p->error, "exited with status 1"), "error: %s", p->error);
    cr_assert_eq(p->fails, 1);
    finish(&t, p, c);
}

Test(proc, missing_program_fails)
{
    gs_config *c = test_config("startPort: 31713\nmodels:\n  m:\n    cmd: /nonexistent/llama-server "
                        "--port ${PORT}\n");
    uv_loop_t loop;
    uv_loop_init(&loop);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 15, on_state, &t);
    gs_proc_start(p);
    run_until(&t, GS_PROC_FAILED, 5000);
    cr_assert_eq(p->state, GS_PROC_FAILED);
    cr_assert(strstr(p->error, "/nonexistent/llama-server"), "error: %s", p->error);
    finish(&t, p, c);
}

Test(proc, ttl_stops_an_idle_model)
{
    char y[512];
    snprintf(y, sizeof y,
             "startPort: 31714\nmodels:\n  m:\n    cmd: %s --port ${PORT}\n    ttl: 1\n", fake());
    gs_config *c = test_config(y);
    uv_loop_t loop;
    uv_loop_init(&loop);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 15, on_state, &t);
    gs_proc_start(p);
    run_until(&t, GS_PROC_READY, 10000);
    cr_assert_eq(p->state, GS_PROC_READY, "state %s: %s", gs_proc_state_name(p->state),
                 p->error ? p->error : "");
    /* A request in flight holds the TTL off. */
    gs_proc_request_begin(p);
    run_for(&loop, 1500);
    cr_assert_eq(p->state, GS_PROC_READY, "stopped while a request was in flight");
    cr_assert_lt(gs_proc_ttl_left(p), 0);
    gs_proc_request_end(p);
    cr_assert_gt(gs_proc_ttl_left(p), 0.5);
    run_until(&t, GS_PROC_STOPPED, 5000);
    cr_assert_eq(p->state, GS_PROC_STOPPED);
    finish(&t, p, c);
}

Test(proc, no_check_endpoint_is_ready_at_once)
{
    char y[512];
    snprintf(y, sizeof y,
             "startPort: 31715\nmodels:\n  m:\n    cmd: %s --port ${PORT} --health-delay 5000\n"
             "    checkEndpoint: none\n",
             fake());
    gs_config *c = test_config(y);
    uv_loop_t loop;
    uv_loop_init(&loop);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 15, on_state, &t);
    gs_proc_start(p);
    cr_assert_eq(p->state, GS_PROC_READY);
    gs_proc_stop(p, "test");
    run_until(&t, GS_PROC_STOPPED, 5000);
    finish(&t, p, c);
}

Test(proc, busy_port_is_refused)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t l;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 31716, &a);
    uv_tcp_init(&loop, &l);
    cr_assert_eq(uv_tcp_bind(&l, (struct sockaddr *)&a, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&l, 1, NULL), 0);
    char y[512];
    snprintf(y, sizeof y, "startPort: 31716\nmodels:\n  m:\n    cmd: %s --port ${PORT}\n",
             fake());
    gs_config *c = test_config(y);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 15, on_state, &t);
    cr_assert_lt(gs_proc_start(p), 0);
    cr_assert_eq(p->state, GS_PROC_FAILED);
    cr_assert(strstr(p->error, "port 31716 is already in use"), "error: %s", p->error);
    uv_close((uv_handle_t *)&l, NULL);
    finish(&t, p, c);
}

Test(proc, a_child_seen_dead_is_dying_until_its_exit_is_handled)
{
    char y[512];
    snprintf(y, sizeof y, "startPort: 31717\nmodels:\n  m:\n    cmd: %s --port ${PORT}\n", fake());
    gs_config *c = test_config(y);
    uv_loop_t loop;
    uv_loop_init(&loop);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 15, on_state, &t);
    cr_assert_eq(gs_proc_start(p), 0);
    run_until(&t, GS_PROC_READY, 10000);
    cr_assert_eq(p->state, GS_PROC_READY, "state %s: %s", gs_proc_state_name(p->state),
                 p->error ? p->error : "");
    gs_proc_check_dead(p);
    cr_assert_eq(p->state, GS_PROC_READY, "a live child stays READY");
    /* Kill it behind libuv's back and look before the loop reaps it: a zombie. */
    kill(p->pid, SIGKILL);
    usleep(100 * 1000);
    gs_proc_check_dead(p);
    cr_assert_eq(p->state, GS_PROC_DYING);
    cr_assert_str_eq(gs_proc_state_name(p->state), "dying");
    gs_proc_check_dead(p); /* once is enough: no second transition */
    run_until(&t, GS_PROC_STOPPED, 5000);
    cr_assert_eq(p->state, GS_PROC_STOPPED);
    gs_proc_state want[] = {GS_PROC_STARTING, GS_PROC_READY, GS_PROC_DYING, GS_PROC_STOPPED};
    cr_assert_eq(t.n, 4, "%d transitions", t.n);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(t.seen[i], want[i], "transition %d: %s", i, gs_proc_state_name(t.seen[i]));
    cr_assert_not(gs_proc_alive(p));
    finish(&t, p, c);
}

Test(proc, health_check_timeout_has_its_own_deadline)
{
    char y[512];
    snprintf(y, sizeof y,
             "startPort: 31718\nmodels:\n  m:\n    cmd: %s --port ${PORT} --health-delay 10000\n",
             fake());
    gs_config *c = test_config(y);
    uv_loop_t loop;
    uv_loop_init(&loop);
    trace t = {.loop = &loop};
    gs_proc *p = gs_proc_new(&loop, &c->models[0], 1, on_state, &t);
    uint64_t t0 = gs_clock_ms();
    cr_assert_eq(gs_proc_start(p), 0);
    run_until(&t, GS_PROC_FAILED, 8000);
    uint64_t took = gs_clock_ms() - t0;
    cr_assert_eq(p->state, GS_PROC_FAILED, "state %s", gs_proc_state_name(p->state));
    cr_assert(strstr(p->error, "did not become ready within 1 s (healthCheckTimeout)"), "error: %s",
              p->error);
    /* libuv's timers run on a coarse clock (up to 1 ms behind this one) and both round down
     * to whole ms: a deadline met at 998 ms by this clock is still the 1 s one. */
    cr_assert(took >= 990 && took < 2500, "failed after %llu ms", (unsigned long long)took);
    finish(&t, p, c);
}
