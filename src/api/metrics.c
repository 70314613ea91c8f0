/* /metrics in Prometheus's text format. Counters are updated from every connection thread under
 * one mutex; label sets are bounded (route patterns, not raw paths, so a client cannot grow
 * them). */
#include "api/api.h"
#include "base/buf.h"
#include "base/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 256

static const double ttft_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N_BOUNDS (sizeof ttft_bounds / sizeof ttft_bounds[0])

static struct {
    pthread_mutex_t mu;
    struct {
        const char *route; /* static strings from the route tables, or "unmatched" */
        int status;
        uint64_t count;
    } req[MAX_SERIES];
    int n_req;
    uint64_t prompt_tokens, gen_tokens, cached_tokens;
    double prompt_seconds, gen_seconds;
    double last_prompt_tps, last_gen_tps;
    uint64_t ttft_buckets[N_BOUNDS + 1];
    double ttft_sum;
    uint64_t ttft_count;
    uint64_t worker_restarts;
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

void metrics_request(const char *route, int status)
{
    if (!route)
        route = "unmatched";
    pthread_mutex_lock(&m.mu);
    int i = 0;
    while (i < m.n_req && !(m.req[i].status == status && strcmp(m.req[i].route, route) == 0))
        i++;
    if (i == m.n_req && m.n_req < MAX_SERIES) {
        m.req[i].route = route;
        m.req[i].status = status;
        m.n_req++;
    }
    if (i < m.n_req)
        m.req[i].count++;
    pthread_mutex_unlock(&m.mu);
}

void metrics_generation(const struct gen_stats *st)
{
    pthread_mutex_lock(&m.mu);
    m.prompt_tokens += st->prompt_n;
    m.gen_tokens += st->gen_n;
    m.cached_tokens += st->prompt_cached;
    m.prompt_seconds += (double)st->prompt_us / 1e6;
    m.gen_seconds += (double)st->gen_us / 1e6;
    if (st->prompt_us > 0)
        m.last_prompt_tps = st->prompt_n * 1e6 / (double)st->prompt_us;
    if (st->gen_us > 0 && st->gen_n)
        m.last_gen_tps = st->gen_n * 1e6 / (double)st->gen_us;
    pthread_mutex_unlock(&m.mu);
}

void metrics_first_token(double seconds)
{
    pthread_mutex_lock(&m.mu);
    size_t b = 0;
    while (b < N_BOUNDS && seconds > ttft_bounds[b])
        b++;
    m.ttft_buckets[b]++;
    m.ttft_sum += seconds;
    m.ttft_count++;
    pthread_mutex_unlock(&m.mu);
}

void metrics_worker_restart(void)
{
    __atomic_add_fetch(&m.worker_restarts, 1, __ATOMIC_RELAXED);
}

static void handle_metrics(const struct http_request *req, struct http_reply *rep)
{
    (void)req;
    struct buf b;
    buf_init(&b, 0);
    struct sched_status st[64];
    int loaded = sched_list(api->sched, st, 64);
    int waiting = sched_waiting(api->sched);
    pthread_mutex_lock(&m.mu);
    buf_puts(&b, "# HELP hearth_requests_total HTTP requests by route and status.\n"
                 "# TYPE hearth_requests_total counter\n");
    for (int i = 0; i < m.n_req; i++)
        buf_printf(&b, "hearth_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m.req[i].route,
                   m.req[i].status, (unsigned long long)m.req[i].count);
    buf_printf(&b,
               "# HELP hearth_prompt_tokens_total Prompt tokens evaluated.\n"
               "# TYPE hearth_prompt_tokens_total counter\n"
               "hearth_prompt_tokens_total %llu\n"
               "# HELP hearth_prompt_tokens_cached_total Prompt tokens reused from a cache.\n"
               "# TYPE hearth_prompt_tokens_cached_total counter\n"
               "hearth_prompt_tokens_cached_total %llu\n"
               "# HELP hearth_generated_tokens_total Tokens generated.\n"
               "# TYPE hearth_generated_tokens_total counter\n"
               "hearth_generated_tokens_total %llu\n"
               "# HELP hearth_prompt_seconds_total Time spent evaluating prompts.\n"
               "# TYPE hearth_prompt_seconds_total counter\n"
               "hearth_prompt_seconds_total %.6f\n"
               "# HELP hearth_generation_seconds_total Time spent generating.\n"
               "# TYPE hearth_generation_seconds_total counter\n"
               "hearth_generation_seconds_total %.6f\n"
               "# HELP hearth_prompt_tokens_per_second Prompt evaluation rate of the last "
               "request.\n"
               "# TYPE hearth_prompt_tokens_per_second gauge\n"
               "hearth_prompt_tokens_per_second %.3f\n"
               "# HELP hearth_generation_tokens_per_second Generation rate of the last request.\n"
               "# TYPE hearth_generation_tokens_per_second gauge\n"
               "hearth_generation_tokens_per_second %.3f\n",
               (unsigned long long)m.prompt_tokens, (unsigned long long)m.cached_tokens,
               (unsigned long long)m.gen_tokens, m.prompt_seconds, m.gen_seconds, m.last_prompt_tps,
               m.last_gen_tps);
    buf_puts(&b, "# HELP hearth_time_to_first_token_seconds From request to first token.\n"
                 "# TYPE hearth_time_to_first_token_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < N_BOUNDS; i++) {
        cum += m.ttft_buckets[i];
        buf_printf(&b, "hearth_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n",
                   ttft_bounds[i], (unsigned long long)cum);
    }
    cum += m.ttft_buckets[N_BOUNDS];
    buf_printf(&b,
               "hearth_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n"
               "hearth_time_to_first_token_seconds_sum %.6f\n"
               "hearth_time_to_first_token_seconds_count %llu\n",
               (unsigned long long)cum, m.ttft_sum, (unsigned long long)m.ttft_count);
    pthread_mutex_unlock(&m.mu);
    buf_printf(&b,
               "# HELP hearth_queue_depth Requests waiting for a busy model.\n"
               "# TYPE hearth_queue_depth gauge\n"
               "hearth_queue_depth %d\n"
               "# HELP hearth_models_loaded Models with a running worker.\n"
               "# TYPE hearth_models_loaded gauge\n"
               "hearth_models_loaded %d\n"
               "# HELP hearth_worker_restarts_total Workers that died and were replaced.\n"
               "# TYPE hearth_worker_restarts_total counter\n"
               "hearth_worker_restarts_total %llu\n",
               waiting, loaded,
               (unsigned long long)__atomic_load_n(&m.worker_restarts, __ATOMIC_RELAXED));
    rep->status = 200;
    rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
    buf_free(&rep->body);
    rep->body = b;
}

static const struct http_route routes[] = {
    {"GET", "/metrics", handle_metrics},
};

void metrics_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
