#include "check.h"
#include "engine/params.h"

#include <math.h>

int main(void)
{
    struct gen_params g;
    gen_params_init(&g);
    CHECK(g.num_predict == -1);
    CHECK(fabsf(g.temperature - 0.8f) < 1e-6f);
    CHECK(g.top_k == 40);
    CHECK(g.seed == -1);
    CHECK(gen_params_validate(&g, NULL) == 0);

    struct err e = {0};
    const struct param_desc *d = params_find("temp");
    CHECK(d && !strcmp(d->name, "temperature"));
    CHECK(params_find("top-p") == params_find("top_p"));
    CHECK(params_find("no_such_knob") == NULL);

    CHECK(params_set_text(&g, d, "0", &e) == 0 && g.temperature == 0.0f);
    CHECK(params_set_text(&g, d, "nan", &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "temperature") != NULL);
    CHECK(params_set_text(&g, d, "-1", &e) == ERR_BAD_REQUEST);
    CHECK(params_set_text(&g, params_find("top_p"), "2", &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "top_p must be a number from 0 to 1") != NULL);
    CHECK(params_set_text(&g, params_find("num_predict"), "-5", &e) == ERR_BAD_REQUEST);
    CHECK(params_set_text(&g, params_find("num_predict"), "12abc", &e) == ERR_BAD_REQUEST);
    CHECK(params_set_text(&g, params_find("num_predict"), "12", &e) == 0 && g.num_predict == 12);
    CHECK(params_set_text(&g, params_find("seed"), "4294967296", &e) == ERR_BAD_REQUEST);
    CHECK(params_set_text(&g, params_find("ignore_eos"), "maybe", &e) == ERR_BAD_REQUEST);
    CHECK(params_set_text(&g, params_find("ignore_eos"), "true", &e) == 0 && g.ignore_eos);

    /* Lists append and are capped. */
    const struct param_desc *stop = params_find("stop");
    for (int i = 0; i < PARAMS_MAX_STOPS; i++)
        CHECK(params_set_text(&g, stop, "x", &e) == 0);
    CHECK(params_set_text(&g, stop, "x", &e) == ERR_TOO_LARGE);
    CHECK(g.stop.n == PARAMS_MAX_STOPS);
    CHECK(params_set_text(&g, params_find("dry_sequence_breakers"), "", &e) == ERR_BAD_REQUEST);

    /* Logit bias: TOKEN+BIAS, TOKEN-BIAS, TOKEN-inf. */
    const struct param_desc *lb = params_find("logit_bias");
    CHECK(params_set_text(&g, lb, "15+1.5", &e) == 0);
    CHECK(params_set_text(&g, lb, "2-inf", &e) == 0);
    CHECK(g.n_logit_bias == 2 && g.logit_bias[0].token == 15 && g.logit_bias[0].bias == 1.5f);
    CHECK(isinf(g.logit_bias[1].bias) && g.logit_bias[1].bias < 0);
    CHECK(params_set_text(&g, lb, "abc", &e) == ERR_BAD_REQUEST);
    CHECK(params_set_text(&g, lb, "-3+1", &e) == ERR_BAD_REQUEST);
    CHECK(params_set_text(&g, lb, "3+nan", &e) == ERR_BAD_REQUEST);

    /* validate catches values set by other means. */
    g.top_p = NAN;
    CHECK(gen_params_validate(&g, &e) == ERR_BAD_REQUEST);
    g.top_p = 0.5f;
    g.mirostat = 3;
    CHECK(gen_params_validate(&g, &e) == ERR_BAD_REQUEST);
    gen_params_free(&g);
    gen_params_free(NULL);

    struct load_params l;
    load_params_init(&l);
    CHECK(l.num_ctx == 0 && l.use_mmap && l.cache_type_k && !strcmp(l.cache_type_k, "f16"));
    CHECK(params_set_text(&l, params_find("ctx-size"), "512", &e) == 0 && l.num_ctx == 512);
    CHECK(params_set_text(&l, params_find("use_mmap"), "false", &e) == 0 && !l.use_mmap);
    CHECK(load_params_validate(&l, &e) == 0);
    load_params_free(&l);
    return check_done("test_params");
}
