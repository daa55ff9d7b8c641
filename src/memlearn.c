#include "memlearn.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "gen.h"
#include "mem.h"

#define MiB (1024ull * 1024)
#define MAX_ENTRIES 512
/* What the buffer lines leave out: the binary, its libraries and threads (memest.c's figure). */
#define LOG_OVERHEAD (24 * MiB)

/* ---- the log ---------------------------------------------------------------------------- */

int gs_memlearn_device(const char *s, size_t n)
{
    char b[32];
    if (!n || n >= sizeof b)
        return -1;
    memcpy(b, s, n);
    b[n] = 0;
    if (!strncasecmp(b, "CPU", 3) || !strcasecmp(b, "Host") || strstr(b, "_Host"))
        return 0;
    static const char *const gpu[] = {"CUDA", "ROCm", "Vulkan", "SYCL", "MTL", "Metal", "CANN",
                                      "OPENCL", "MUSA"};
    for (size_t i = 0; i < GS_ARRAY_LEN(gpu); i++) {
        size_t k = strlen(gpu[i]);
        if (strncasecmp(b, gpu[i], k))
            continue;
        if (!b[k])
            return 1;
        char *end;
        long d = strtol(b + k, &end, 10);
        if (*end || d < 0 || d >= GS_MEMEST_MAX_GPUS)
            return -1;
        return 1 + (int)d;
    }
    return -1;
}

static bool has_ci(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!strncasecmp(s + i, needle, k))
            return true;
    return false;
}

static const char *find(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k))
            return s + i;
    return NULL;
}

static void buffer_line(gs_memlearn_log *l, const char *s, size_t n)
{
    const char *b = find(s, n, " buffer size =");
    if (!b)
        return;
    /* the device is the first word after the function name's colon */
    const char *c = b;
    while (c > s && c[-1] != ':')
        c--;
    if (c == s)
        return;
    while (c < b && *c == ' ')
        c++;
    const char *e = c;
    while (e < b && *e != ' ')
        e++;
    int dev = gs_memlearn_device(c, (size_t)(e - c));
    double mib = strtod(b + strlen(" buffer size ="), NULL);
    if (dev < 0 || mib < 0 || mib > 1e9)
        return;
    bool model = find(e, (size_t)(b - e), "model") != NULL || e == b;
    if (model && l->seen_compute) { /* a second load pass (after --fit's dry run) */
        memset(l->buf, 0, sizeof l->buf);
        l->seen_compute = false;
    }
    if (find(e, (size_t)(b - e), "compute"))
        l->seen_compute = true;
    l->buf[dev] += (uint64_t)(mib * (double)MiB);
    l->have_buf = true;
}

/* "|   - Host    |   337 =   218 +  96 +  23   |" and
 * "|   - CUDA0 (RTX 4090) | 24080 = 20000 + (3000 = 2500 + 300 + 200) + 1080 |": self. */
static void breakdown_line(gs_memlearn_log *l, const char *s, size_t n)
{
    const char *d = find(s, n, "|   - ");
    if (!d)
        return;
    d += 6;
    const char *end = s + n, *e = d;
    while (e < end && *e != ' ' && *e != '(' && *e != '|')
        e++;
    int dev = gs_memlearn_device(d, (size_t)(e - d));
    const char *bar = memchr(e, '|', (size_t)(end - e));
    if (dev < 0 || !bar)
        return;
    const char *open = memchr(bar, '(', (size_t)(end - bar));
    const char *num = open ? open + 1 : bar + 1;
    char *stop;
    double mib = strtod(num, &stop);
    if (stop == num || mib < 0 || mib > 1e9)
        return;
    l->breakdown[dev] = (uint64_t)(mib * (double)MiB);
    l->have_breakdown = true;
}

static void oom_line(gs_memlearn_log *l, const char *s, size_t n)
{
    static const char *const pat[] = {"out of memory", "failed to allocate", "cudaMalloc failed",
                                      "unable to allocate", "bad_alloc", "not enough memory",
                                      "OutOfDeviceMemory", "hipMalloc failed"};
    for (size_t i = 0; i < GS_ARRAY_LEN(pat); i++)
        if (has_ci(s, n, pat[i])) {
            if (!l->oom) {
                size_t k = n < sizeof l->oom_line - 1 ? n : sizeof l->oom_line - 1;
                memcpy(l->oom_line, s, k);
                l->oom_line[k] = 0;
                for (char *q = l->oom_line; *q; q++)
                    if ((unsigned char)*q < 0x20)
                        *q = ' ';
            }
            l->oom = true;
            return;
        }
}

void gs_memlearn_parse(gs_memlearn_log *l, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        buffer_line(l, p, n);
        if (find(p, n, "breakdown"))
            breakdown_line(l, p, n);
        oom_line(l, p, n);
        p += n + 1;
    }
}

bool gs_memlearn_log_figure(const gs_memlearn_log *l, uint64_t *dev)
{
    if (!l->have_buf && !l->have_breakdown)
        return false;
    for (int d = 0; d < GS_MEMEST_MAX_DEV; d++) {
        uint64_t a = l->buf[d], b = l->breakdown[d];
        dev[d] = a > b ? a : b;
    }
    dev[0] += LOG_OVERHEAD;
    return true;
}

/* ---- the key ---------------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void gs_memlearn_key(char *const *argv, int argc, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < argc && argv[i]; i++) {
        /* where it listens and what it is called change nothing it allocates */
        if ((!strcmp(argv[i], "--port") || !strcmp(argv[i], "--host") ||
             !strcmp(argv[i], "--alias") || !strcmp(argv[i], "-a")) && i + 1 < argc) {
            i++;
            continue;
        }
        h = fnv(h, argv[i], strlen(argv[i]) + 1);
        struct stat st;
        if (i > 0 && !stat(argv[i], &st) && S_ISREG(st.st_mode)) {
            int64_t f[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
            h = fnv(h, f, sizeof f);
        }
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ---- the store -------------------------------------------------------------------------- */

static char *store_path(const char *home)
{
    return gs_mem_printf("%s/memory.json", home);
}

static json_t *load(const char *home)
{
    char *p = store_path(home);
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    if (!json_is_object(j) || !json_is_object(json_object_get(j, "entries"))) {
        json_decref(j);
        j = json_pack("{s:i, s:{}}", "version", 1, "entries");
    }
    return j;
}

static void dev_name(int d, char *b, size_t cap)
{
    if (d)
        snprintf(b, cap, "gpu%d", d - 1);
    else
        snprintf(b, cap, "ram");
}

int gs_memlearn_get(const char *home, const char *key, gs_memlearn_entry *e)
{
    memset(e, 0, sizeof *e);
    json_t *j = load(home);
    json_t *o = json_object_get(json_object_get(j, "entries"), key);
    int rc = json_is_object(o) ? 0 : -ENOENT;
    for (int d = 0; !rc && d < GS_MEMEST_MAX_DEV; d++) {
        char n[8];
        dev_name(d, n, sizeof n);
        json_int_t v = json_integer_value(json_object_get(o, n));
        e->dev[d] = v > 0 ? (uint64_t)v : 0;
    }
    if (!rc) {
        json_int_t v = json_integer_value(json_object_get(o, "loadMs"));
        e->load_ms = v > 0 ? (uint64_t)v : 0;
        e->ooms = (int)json_integer_value(json_object_get(o, "ooms"));
    }
    json_decref(j);
    return rc;
}

int gs_memlearn_put(const char *home, const char *key, const char *model,
                    const gs_memlearn_entry *e, bool replace)
{
    json_t *j = load(home), *entries = json_object_get(j, "entries");
    json_t *o = json_object_get(entries, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(entries, key, o);
    }
    json_object_set_new(o, "model", json_string(model ? model : ""));
    for (int d = 0; d < GS_MEMEST_MAX_DEV; d++) {
        char n[8];
        dev_name(d, n, sizeof n);
        json_int_t old = json_integer_value(json_object_get(o, n));
        uint64_t v = e->dev[d];
        if (!replace && old > 0 && (uint64_t)old > v)
            v = (uint64_t)old;
        if (v)
            json_object_set_new(o, n, json_integer((json_int_t)v));
        else
            json_object_del(o, n);
    }
    if (e->load_ms)
        json_object_set_new(o, "loadMs", json_integer((json_int_t)e->load_ms));
    json_object_set_new(o, "ooms", json_integer(e->ooms));
    json_object_set_new(o, "at", json_integer((json_int_t)time(NULL)));
    while (json_object_size(entries) > MAX_ENTRIES) { /* drop the oldest */
        const char *k, *oldest = NULL;
        json_t *v;
        json_int_t at = 0;
        json_object_foreach(entries, k, v) {
            json_int_t a = json_integer_value(json_object_get(v, "at"));
            if (!oldest || a < at) {
                oldest = k;
                at = a;
            }
        }
        json_object_del(entries, oldest);
    }
    char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    char *p = store_path(home);
    int rc = text ? gs_gen_write_atomic(p, text, strlen(text)) : -ENOMEM;
    free(p);
    free(text);
    json_decref(j);
    return rc;
}

void gs_memlearn_raise(gs_memlearn_entry *e, const uint64_t *estimate, int ndev)
{
    for (int d = 0; d < ndev && d < GS_MEMEST_MAX_DEV; d++) {
        uint64_t base = e->dev[d] > estimate[d] ? e->dev[d] : estimate[d];
        if (!base)
            continue;
        uint64_t more = base / 2 > 64 * MiB ? base / 2 : 64 * MiB;
        e->dev[d] = base + more;
    }
    e->ooms++;
}
