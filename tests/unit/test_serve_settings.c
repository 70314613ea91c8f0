/* The settings table of `hearth serve` (src/cli/serve_settings.c): its defaults agree with the
 * constants the scheduler and the HTTP server use without it, and precedence, lists, secrets and
 * bad values behave as settings.h says. */
#include "check.h"
#include "cli/serve_settings.h"
#include "net/http.h"
#include "sched/sched.h"

#include <stdlib.h>

static void clean_env(void)
{
    for (int i = 0; i < SETTING_COUNT; i++)
        for (int k = 0; k < 2 && serve_settings_table[i].env[k]; k++)
            unsetenv(serve_settings_table[i].env[k]);
}

static void test_defaults(void)
{
    clean_env();
    struct settings s;
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    CHECK(s.v[SETTING_MAX_LOADED_MODELS].num == SCHED_DEFAULT_MAX_LOADED);
    CHECK(s.v[SETTING_MAX_QUEUE].num == SCHED_DEFAULT_MAX_QUEUE);
    CHECK(s.v[SETTING_LOAD_TIMEOUT].num == SCHED_DEFAULT_LOAD_TIMEOUT);
    CHECK(s.v[SETTING_STALL_TIMEOUT].num == SCHED_DEFAULT_STALL_TIMEOUT);
    CHECK(s.v[SETTING_MAX_BODY].num == HTTP_DEFAULT_MAX_BODY);
    CHECK(s.v[SETTING_KEEP_ALIVE].num == 5LL * 60 * 1000);
    CHECK(s.v[SETTING_PARALLEL].num == 4);
    CHECK(s.v[SETTING_TIMEOUT].num == 60);
    CHECK(s.v[SETTING_HEADER_TIMEOUT].num == 10);
    CHECK(s.v[SETTING_WRITE_TIMEOUT].num == 60);
    CHECK(s.v[SETTING_STRICT_OPTIONS].num == 0);
    CHECK(s.v[SETTING_HOST].text == NULL && s.v[SETTING_HOST].source == SETTING_FROM_DEFAULT);
    serve_settings_free(&s);
    /* Every setting has a name, help, and a flag or a variable; names are unique. */
    for (int i = 0; i < SETTING_COUNT; i++) {
        const struct setting *t = &serve_settings_table[i];
        CHECK(t->name && t->help && (t->flag || t->env[0]));
        CHECK(t->kind == SETTING_KIND_SWITCH || t->arg);
        for (int j = 0; j < i; j++)
            CHECK(!t->name || !serve_settings_table[j].name ||
                  strcmp(t->name, serve_settings_table[j].name) != 0);
    }
}

static void test_precedence(void)
{
    clean_env();
    struct settings s;
    setenv("OLLAMA_NUM_PARALLEL", "5", 1);
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    CHECK(s.v[SETTING_PARALLEL].num == 5);
    CHECK_STR(s.v[SETTING_PARALLEL].from, "OLLAMA_NUM_PARALLEL");
    serve_settings_free(&s);
    setenv("HEARTH_NUM_PARALLEL", "6", 1);
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    CHECK(s.v[SETTING_PARALLEL].num == 6);
    serve_settings_free(&s);
    setenv("HEARTH_NUM_PARALLEL", "", 1); /* empty: unset, so Ollama's variable counts */
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    CHECK(s.v[SETTING_PARALLEL].num == 5);
    serve_settings_free(&s);
    char *argv[] = {"-np", "7", "--no-webui", "--models-dir", "/a", "--models-dir", "/b"};
    setenv("HEARTH_MODELS_DIR", "/x:/y:/z", 1);
    CHECK(serve_settings_read(&s, 7, argv) == 0);
    CHECK(s.v[SETTING_PARALLEL].num == 7 && s.v[SETTING_PARALLEL].source == SETTING_FROM_FLAG);
    CHECK(s.v[SETTING_NO_WEBUI].num == 1 && s.v[SETTING_NO_METRICS].num == 0);
    CHECK(s.v[SETTING_MODELS_DIR].list.n == 2); /* the flags replace the variable */
    serve_settings_free(&s);
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    CHECK(s.v[SETTING_MODELS_DIR].list.n == 3);
    CHECK_STR(s.v[SETTING_MODELS_DIR].list.v[2], "/z");
    serve_settings_free(&s);
    setenv("HEARTH_ORIGINS", "https://a.org", 1);
    setenv("OLLAMA_ORIGINS", "https://b.org", 1);
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    CHECK_STR(s.v[SETTING_ORIGINS].text, "https://a.org,https://b.org");
    CHECK_STR(s.v[SETTING_ORIGINS].from, "HEARTH_ORIGINS+OLLAMA_ORIGINS");
    serve_settings_free(&s);
    clean_env();
}

static void test_bad(void)
{
    clean_env();
    struct settings s;
    char *a1[] = {"--parallel", "0"}, *a2[] = {"--max-queue"}, *a3[] = {"--bogus"},
         *a4[] = {"--keep-alive", "-1m"}, *a5[] = {"--help"};
    CHECK(serve_settings_read(&s, 2, a1) == 2);
    serve_settings_free(&s);
    CHECK(serve_settings_read(&s, 1, a2) == 2);
    serve_settings_free(&s);
    CHECK(serve_settings_read(&s, 1, a3) == 2);
    serve_settings_free(&s);
    CHECK(serve_settings_read(&s, 2, a4) == 0); /* negative keep-alive: forever */
    CHECK(s.v[SETTING_KEEP_ALIVE].num < 0);
    serve_settings_free(&s);
    CHECK(serve_settings_read(&s, 1, a5) == SERVE_SETTINGS_HELP);
    serve_settings_free(&s);
    setenv("HEARTH_LOAD_TIMEOUT", "-1m", 1);
    CHECK(serve_settings_read(&s, 0, NULL) == 2);
    serve_settings_free(&s);
    unsetenv("HEARTH_LOAD_TIMEOUT");
    /* Read where used: noted, not refused, and the default shown. */
    setenv("HEARTH_PULL_RETRIES", "many", 1);
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    CHECK(s.v[SETTING_PULL_RETRIES].ignored != NULL);
    CHECK(s.v[SETTING_PULL_RETRIES].num == 5);
    char out[64];
    serve_settings_value(&s, SETTING_PULL_RETRIES, out, sizeof out);
    CHECK_STR(out, "5");
    serve_settings_free(&s);
    clean_env();
}

static void test_secret(void)
{
    clean_env();
    struct settings s;
    setenv("HEARTH_API_KEY", "sk-very-secret", 1);
    CHECK(serve_settings_read(&s, 0, NULL) == 0);
    char out[64];
    serve_settings_value(&s, SETTING_API_KEY, out, sizeof out);
    CHECK(strstr(out, "secret") == NULL && out[0]);
    CHECK_STR(s.v[SETTING_API_KEY].text, "sk-very-secret"); /* serve still gets it */
    serve_settings_free(&s);
    clean_env();
}

int main(void)
{
    test_defaults();
    test_precedence();
    test_bad();
    test_secret();
    return check_done("test_serve_settings");
}
