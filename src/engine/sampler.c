#include "engine/engine.h"

#include "base/util.h"

#include <llama.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* llama.cpp's GBNF parser reports what is wrong on stderr, not through its log callback. The
 * message is worth giving to the user, so stderr is captured around the call (the worker is
 * single-threaded here). */
static struct llama_sampler *init_grammar(const struct llama_vocab *vocab, const char *grammar,
                                          char *why, size_t why_len)
{
    snprintf(why, why_len, "it does not parse as GBNF");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *cap = tmpfile();
    if (saved < 0 || !cap) {
        if (saved >= 0)
            close(saved);
        if (cap)
            fclose(cap);
        return llama_sampler_init_grammar(vocab, grammar, "root");
    }
    dup2(fileno(cap), STDERR_FILENO);
    struct llama_sampler *g = llama_sampler_init_grammar(vocab, grammar, "root");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    if (!g) {
        char line[256];
        rewind(cap);
        while (fgets(line, sizeof line, cap)) {
            const char *m = strstr(line, "error parsing grammar: ");
            if (m) {
                snprintf(why, why_len, "%s", m + 23);
                why[strcspn(why, "\n")] = '\0';
                break;
            }
        }
    }
    fclose(cap);
    return g;
}

/* The end-of-generation tokens of a vocabulary, found once: a scan of a 128k vocabulary costs
 * more than the rest of a request's sampler set-up. A worker has one model; the list follows it
 * should the vocabulary change. */
static const llama_token *eog_tokens(const struct llama_vocab *vocab, int32_t n_vocab, int *n)
{
    static const struct llama_vocab *for_vocab;
    static llama_token *list;
    static int n_list;
    if (for_vocab != vocab) {
        free(list);
        list = NULL;
        n_list = 0;
        for (llama_token t = 0; t < n_vocab; t++)
            if (llama_vocab_is_eog(vocab, t)) {
                list = xrealloc(list, (size_t)(n_list + 1) * sizeof *list);
                list[n_list++] = t;
            }
        for_vocab = vocab;
    }
    *n = n_list;
    return list;
}

int sampler_init(struct sampler *s, const struct llama_model *model, const struct gen_params *p,
                 uint32_t n_ctx, struct err *e)
{
    memset(s, 0, sizeof *s);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int32_t n_vocab = llama_vocab_n_tokens(vocab);
    uint32_t seed = p->seed < 0 ? LLAMA_DEFAULT_SEED : (uint32_t)p->seed;

    struct llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    struct llama_sampler *chain = llama_sampler_chain_init(cp);

    if (p->grammar && p->grammar[0]) {
        char why[256];
        s->grammar = init_grammar(vocab, p->grammar, why, sizeof why);
        if (!s->grammar) {
            llama_sampler_free(chain);
            return err_set(e, ERR_BAD_REQUEST, "invalid grammar: %s", why);
        }
    }

    /* Logit bias: the request's, the model's suppressed tokens, and every end-of-generation
     * token when ignore_eos is set (as llama-server does). */
    int32_t n_supp = 0;
    const llama_token *supp = llama_vocab_get_suppress_tokens(vocab, &n_supp);
    int n_eog = 0;
    const llama_token *eog = p->ignore_eos ? eog_tokens(vocab, n_vocab, &n_eog) : NULL;
    size_t nb = (size_t)p->n_logit_bias + (size_t)n_supp + (size_t)n_eog;
    if (nb) {
        llama_logit_bias *b = xcalloc(nb, sizeof *b);
        size_t k = 0;
        for (int i = 0; i < p->n_logit_bias; i++) {
            if (p->logit_bias[i].token < 0 || p->logit_bias[i].token >= n_vocab) {
                free(b);
                llama_sampler_free(chain);
                if (s->grammar)
                    llama_sampler_free(s->grammar);
                s->grammar = NULL;
                return err_set(e, ERR_BAD_REQUEST,
                               "logit_bias token %d is outside the vocabulary (%d tokens)",
                               p->logit_bias[i].token, n_vocab);
            }
            b[k++] = (llama_logit_bias){p->logit_bias[i].token, p->logit_bias[i].bias};
        }
        for (int32_t i = 0; i < n_supp; i++)
            b[k++] = (llama_logit_bias){supp[i], -INFINITY};
        for (int i = 0; i < n_eog; i++)
            b[k++] = (llama_logit_bias){eog[i], -INFINITY};
        llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(n_vocab, (int32_t)k, b));
        free(b);
    }

    int32_t last_n = p->repeat_last_n < 0 ? (int32_t)n_ctx : p->repeat_last_n;
    float repeat = p->repeat_penalty > 0 ? p->repeat_penalty : 1.0f;

    if (p->mirostat == 0) {
        llama_sampler_chain_add(chain, llama_sampler_init_penalties(n_vocab, last_n, repeat,
                                                                    p->frequency_penalty,
                                                                    p->presence_penalty));
        if (p->dry_multiplier > 0) {
            static const char *def_breakers[] = {"\n", ":", "\"", "*"};
            const char **br = (const char **)p->dry_sequence_breakers.v;
            size_t nbr = (size_t)p->dry_sequence_breakers.n;
            if (nbr == 0) {
                br = def_breakers;
                nbr = ARRAY_LEN(def_breakers);
            }
            int32_t dry_last = p->dry_penalty_last_n < 0 ? (int32_t)n_ctx : p->dry_penalty_last_n;
            llama_sampler_chain_add(
                chain, llama_sampler_init_dry(vocab, p->dry_multiplier, p->dry_base,
                                              p->dry_allowed_length, dry_last, br, nbr));
        }
        size_t min_keep = (size_t)p->min_keep;
        if (p->top_n_sigma > 0)
            llama_sampler_chain_add(chain, llama_sampler_init_top_n_sigma(p->top_n_sigma));
        llama_sampler_chain_add(chain, llama_sampler_init_top_k(p->top_k));
        llama_sampler_chain_add(chain, llama_sampler_init_typical(p->typical_p, min_keep));
        llama_sampler_chain_add(chain, llama_sampler_init_top_p(p->top_p, min_keep));
        llama_sampler_chain_add(chain, llama_sampler_init_min_p(p->min_p, min_keep));
        if (p->xtc_probability > 0)
            llama_sampler_chain_add(
                chain,
                llama_sampler_init_xtc(p->xtc_probability, p->xtc_threshold, min_keep, seed));
        llama_sampler_chain_add(
            chain,
            llama_sampler_init_temp_ext(p->temperature, p->dynatemp_range, p->dynatemp_exponent));
        llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
    } else {
        llama_sampler_chain_add(chain, llama_sampler_init_temp(p->temperature));
        if (p->mirostat == 1)
            llama_sampler_chain_add(
                chain,
                llama_sampler_init_mirostat(n_vocab, seed, p->mirostat_tau, p->mirostat_eta, 100));
        else
            llama_sampler_chain_add(
                chain, llama_sampler_init_mirostat_v2(seed, p->mirostat_tau, p->mirostat_eta));
    }
    s->chain = chain;
    s->n_vocab = n_vocab;
    s->cur = xcalloc((size_t)n_vocab, sizeof(llama_token_data));
    return 0;
}

static void fill(struct sampler *s, const float *logits, llama_token_data_array *a)
{
    llama_token_data *d = s->cur;
    for (int32_t i = 0; i < s->n_vocab; i++)
        d[i] = (llama_token_data){i, logits[i], 0.0f};
    *a = (llama_token_data_array){d, (size_t)s->n_vocab, -1, false};
}

int32_t sampler_sample(struct sampler *s, struct llama_context *ctx, int32_t idx)
{
    const float *logits = llama_get_logits_ith(ctx, idx);
    llama_token_data_array a;
    fill(s, logits, &a);
    llama_sampler_apply(s->chain, &a);
    llama_token tok = a.data[a.selected].id;
    if (s->grammar) {
        llama_token_data one = {tok, 1.0f, 0.0f};
        llama_token_data_array single = {&one, 1, -1, false};
        llama_sampler_apply(s->grammar, &single);
        if (single.data[0].logit == -INFINITY) {
            /* Rejected: redraw with the grammar applied to every candidate first. */
            fill(s, logits, &a);
            llama_sampler_apply(s->grammar, &a);
            llama_sampler_apply(s->chain, &a);
            tok = a.data[a.selected].id;
        }
        if (!llama_vocab_is_eog(llama_model_get_vocab(llama_get_model(ctx)), tok))
            llama_sampler_accept(s->grammar, tok);
    }
    llama_sampler_accept(s->chain, tok);
    return tok;
}

void sampler_accept_forced(struct sampler *s, int32_t token)
{
    if (s->grammar)
        llama_sampler_accept(s->grammar, token);
    llama_sampler_accept(s->chain, token);
}

void sampler_accept_prompt(struct sampler *s, int32_t token)
{
    llama_sampler_accept(s->chain, token);
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    if (s->grammar)
        llama_sampler_free(s->grammar);
    if (s->chain)
        llama_sampler_free(s->chain);
    free(s->cur);
    memset(s, 0, sizeof *s);
}
