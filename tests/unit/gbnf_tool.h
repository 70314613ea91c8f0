/* Test-side tools over a parsed GBNF grammar (src/grammar/gbnf.h): a matcher that decides
 * whether a string is in the grammar's language, and a sampler that produces random strings of
 * it. Used by the schema unit, conformance and property tests; never by hearth itself.
 *
 * The matcher works on sets of positions: each grammar node maps the set of positions where it
 * may start to the set where it may end, and a rule's ends from one start are memoized. That is
 * exact for grammars without left recursion, which gbnf_parse guarantees. */
#ifndef HEARTH_TESTS_GBNF_TOOL_H
#define HEARTH_TESTS_GBNF_TOOL_H

#include "base/util.h"
#include "grammar/gbnf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---- */

/* Decodes s into code points (malloc'd *out); -1 when it is not valid UTF-8. */
static inline int gt_decode(const char *s, uint32_t **out, size_t *n)
{
    size_t len = strlen(s), k = 0;
    uint32_t *cps = xmalloc((len + 1) * sizeof *cps);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        int l = u[i] < 0x80         ? 1
                : (u[i] >> 5) == 6  ? 2
                : (u[i] >> 4) == 14 ? 3
                : (u[i] >> 3) == 30 ? 4
                                    : 0;
        if (!l || i + (size_t)l > len) {
            free(cps);
            return -1;
        }
        uint32_t v = l == 1 ? u[i] : u[i] & (0x7Fu >> l);
        for (int j = 1; j < l; j++) {
            if ((u[i + j] & 0xC0) != 0x80) {
                free(cps);
                return -1;
            }
            v = v << 6 | (u[i + j] & 0x3F);
        }
        cps[k++] = v;
        i += (size_t)l;
    }
    *out = cps;
    *n = k;
    return 0;
}

static inline size_t gt_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- the matcher ---- */

struct gt_match {
    const struct gbnf *g;
    const uint32_t *cps;
    size_t n;        /* code points; positions 0..n */
    size_t words;    /* 64-bit words per position set */
    uint64_t **memo; /* [rule * (n+1) + start]: ends, or NULL until computed */
    uint8_t *busy;
};

static inline uint64_t *gt_set(const struct gt_match *m)
{
    return xcalloc(m->words, sizeof(uint64_t));
}

static inline int gt_has(const uint64_t *s, size_t p)
{
    return (int)((s[p / 64] >> (p % 64)) & 1);
}

static inline void gt_add(uint64_t *s, size_t p)
{
    s[p / 64] |= 1ull << (p % 64);
}

static inline int gt_empty(const struct gt_match *m, const uint64_t *s)
{
    for (size_t i = 0; i < m->words; i++)
        if (s[i])
            return 0;
    return 1;
}

static inline int gt_class_has(const struct gbnf *g, const struct gbnf_node *nd, uint32_t cp)
{
    int in = 0;
    for (uint32_t k = 0; k < nd->n && !in; k++)
        in = cp >= g->cps[nd->a + 2 * k] && cp <= g->cps[nd->a + 2 * k + 1];
    return in ^ nd->negated;
}

static inline uint64_t *gt_node(struct gt_match *m, uint32_t node, const uint64_t *in);

static inline const uint64_t *gt_rule(struct gt_match *m, uint32_t rule, size_t start)
{
    size_t key = rule * (m->n + 1) + start;
    if (m->memo[key])
        return m->memo[key];
    if (m->busy[key])
        return NULL; /* only with left recursion, which gbnf_parse refuses */
    m->busy[key] = 1;
    uint64_t *in = gt_set(m);
    gt_add(in, start);
    uint64_t *out = gt_node(m, m->g->rules[rule].node, in);
    free(in);
    m->busy[key] = 0;
    m->memo[key] = out;
    return out;
}

static inline uint64_t *gt_node(struct gt_match *m, uint32_t node, const uint64_t *in)
{
    const struct gbnf *g = m->g;
    const struct gbnf_node *nd = &g->nodes[node];
    uint64_t *out = gt_set(m);
    switch (nd->kind) {
    case GBNF_ALT:
        for (uint32_t k = 0; k < nd->n; k++) {
            uint64_t *r = gt_node(m, g->kids[nd->a + k], in);
            for (size_t w = 0; w < m->words; w++)
                out[w] |= r[w];
            free(r);
        }
        break;
    case GBNF_SEQ: {
        memcpy(out, in, m->words * sizeof *out);
        for (uint32_t k = 0; k < nd->n && !gt_empty(m, out); k++) {
            uint64_t *r = gt_node(m, g->kids[nd->a + k], out);
            free(out);
            out = r;
        }
        break;
    }
    case GBNF_LIT:
        for (size_t p = 0; p <= m->n; p++) {
            if (!gt_has(in, p) || p + nd->n > m->n)
                continue;
            uint32_t k = 0;
            while (k < nd->n && m->cps[p + k] == g->cps[nd->a + k])
                k++;
            if (k == nd->n)
                gt_add(out, p + nd->n);
        }
        break;
    case GBNF_CLASS:
    case GBNF_ANY:
        for (size_t p = 0; p < m->n; p++)
            if (gt_has(in, p) && (nd->kind == GBNF_ANY || gt_class_has(g, nd, m->cps[p])))
                gt_add(out, p + 1);
        break;
    case GBNF_REF:
        for (size_t p = 0; p <= m->n; p++) {
            if (!gt_has(in, p))
                continue;
            const uint64_t *r = gt_rule(m, nd->a, p);
            for (size_t w = 0; r && w < m->words; w++)
                out[w] |= r[w];
        }
        break;
    case GBNF_REP: {
        uint64_t *cur = gt_set(m);
        memcpy(cur, in, m->words * sizeof *cur);
        for (uint32_t i = 0; i < nd->min && !gt_empty(m, cur); i++) {
            uint64_t *r = gt_node(m, nd->a, cur);
            free(cur);
            cur = r;
        }
        memcpy(out, cur, m->words * sizeof *out);
        for (uint32_t i = nd->min; (nd->max == GBNF_INF || i < nd->max) && !gt_empty(m, cur); i++) {
            uint64_t *r = gt_node(m, nd->a, cur);
            /* unbounded: go on from the positions not reached before, until none are new */
            for (size_t w = 0; w < m->words; w++) {
                uint64_t fresh = r[w] & ~out[w];
                out[w] |= r[w];
                if (nd->max == GBNF_INF)
                    r[w] = fresh;
            }
            free(cur);
            cur = r;
        }
        free(cur);
        break;
    }
    default: break;
    }
    return out;
}

/* 1 when text is in the language of g's start rule, 0 when not (or not valid UTF-8). */
static inline int gt_accepts(const struct gbnf *g, const char *text)
{
    uint32_t *cps;
    size_t n;
    if (gt_decode(text, &cps, &n))
        return 0;
    struct gt_match m = {g, cps, n, (n + 1 + 63) / 64, NULL, NULL};
    m.memo = xcalloc(g->n_rules * (n + 1), sizeof *m.memo);
    m.busy = xcalloc(g->n_rules * (n + 1), 1);
    const uint64_t *ends = gt_rule(&m, g->root, 0);
    int ok = ends && gt_has(ends, n);
    for (size_t i = 0; i < g->n_rules * (n + 1); i++)
        free(m.memo[i]);
    free(m.memo);
    free(m.busy);
    free(cps);
    return ok;
}

/* ---- the sampler ---- */

struct gt_sample {
    const struct gbnf *g;
    uint32_t *height; /* per rule: the fewest nested rules a derivation needs */
    uint64_t rng;
    char *out;
    size_t len, cap;
};

static inline uint32_t gt_rand(struct gt_sample *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (uint32_t)(s->rng >> 11);
}

static inline uint32_t gt_height(const struct gt_sample *s, uint32_t node)
{
    const struct gbnf *g = s->g;
    const struct gbnf_node *nd = &g->nodes[node];
    uint32_t h = 0;
    switch (nd->kind) {
    case GBNF_ALT:
        h = UINT32_MAX;
        for (uint32_t k = 0; k < nd->n; k++) {
            uint32_t x = gt_height(s, g->kids[nd->a + k]);
            h = x < h ? x : h;
        }
        return h;
    case GBNF_SEQ:
        for (uint32_t k = 0; k < nd->n; k++) {
            uint32_t x = gt_height(s, g->kids[nd->a + k]);
            h = x > h ? x : h;
        }
        return h;
    case GBNF_REF: return s->height[nd->a] == UINT32_MAX ? UINT32_MAX : s->height[nd->a] + 1;
    case GBNF_REP: return nd->min ? gt_height(s, nd->a) : 0;
    case GBNF_TOKEN: return UINT32_MAX;
    default: return 0;
    }
}

static inline void gt_put(struct gt_sample *s, uint32_t cp)
{
    if (s->len + 5 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->out = xrealloc(s->out, s->cap);
    }
    s->len += gt_encode(cp, s->out + s->len);
    s->out[s->len] = 0;
}

/* Characters tried for `.` and negated classes: ASCII, controls, and a few wider ones. */
static inline uint32_t gt_pool(struct gt_sample *s)
{
    static const uint32_t wide[] = {0xE9, 0x4E2D, 0x1F600, 0x3B1, '\t', '\n',
                                    '\r', 0x1,    0x7F,    '"',   '\\', '/'};
    uint32_t r = gt_rand(s) % 10;
    if (r < 7)
        return 0x20 + gt_rand(s) % 0x5F;
    return wide[gt_rand(s) % (sizeof wide / sizeof *wide)];
}

/* Appends a random string of node; depth past `soft` takes the shortest way out. -1 when the
 * sample grew too long. */
static inline int gt_gen(struct gt_sample *s, uint32_t node, int depth)
{
    const struct gbnf *g = s->g;
    const struct gbnf_node *nd = &g->nodes[node];
    int hurry = depth > 12;
    if (s->len > 4000 || depth > 400)
        return -1;
    switch (nd->kind) {
    case GBNF_ALT: {
        if (!nd->n)
            return 0;
        uint32_t pick = gt_rand(s) % nd->n;
        if (hurry) {
            uint32_t best = UINT32_MAX;
            for (uint32_t k = 0; k < nd->n; k++) {
                uint32_t h = gt_height(s, g->kids[nd->a + k]);
                if (h < best) {
                    best = h;
                    pick = k;
                }
            }
        }
        return gt_gen(s, g->kids[nd->a + pick], depth);
    }
    case GBNF_SEQ:
        for (uint32_t k = 0; k < nd->n; k++)
            if (gt_gen(s, g->kids[nd->a + k], depth))
                return -1;
        return 0;
    case GBNF_LIT:
        for (uint32_t k = 0; k < nd->n; k++)
            gt_put(s, g->cps[nd->a + k]);
        return 0;
    case GBNF_CLASS:
    case GBNF_ANY:
        if (nd->kind == GBNF_CLASS && !nd->negated && gt_rand(s) % 4) {
            uint32_t k = gt_rand(s) % nd->n;
            uint32_t lo = g->cps[nd->a + 2 * k], hi = g->cps[nd->a + 2 * k + 1];
            uint32_t span = hi - lo + 1;
            if (span > 300 && gt_rand(s) % 2)
                span = 300;
            gt_put(s, lo + gt_rand(s) % span);
            return 0;
        }
        for (int tries = 0; tries < 200; tries++) {
            uint32_t cp = gt_pool(s);
            if (nd->kind == GBNF_ANY || gt_class_has(g, nd, cp)) {
                gt_put(s, cp);
                return 0;
            }
        }
        return -1;
    case GBNF_REF: return gt_gen(s, g->rules[nd->a].node, depth + 1);
    case GBNF_REP: {
        uint32_t n = nd->min;
        if (!hurry)
            while ((nd->max == GBNF_INF || n < nd->max) && gt_rand(s) % 3 && n < nd->min + 6)
                n++;
        for (uint32_t i = 0; i < n; i++)
            if (gt_gen(s, nd->a, depth))
                return -1;
        return 0;
    }
    default: return -1;
    }
}

/* A random string of g's language (malloc'd), or NULL when the tries ran out. */
static inline char *gt_sample_one(const struct gbnf *g, uint64_t seed)
{
    struct gt_sample s = {g, NULL, seed * 2654435761u + 1, NULL, 0, 0};
    s.height = xmalloc(g->n_rules * sizeof *s.height);
    for (uint32_t r = 0; r < g->n_rules; r++)
        s.height[r] = UINT32_MAX;
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t r = 0; r < g->n_rules; r++) {
            uint32_t h = gt_height(&s, g->rules[r].node);
            if (h < s.height[r]) {
                s.height[r] = h;
                changed = 1;
            }
        }
    }
    char *res = NULL;
    for (int tries = 0; tries < 20 && !res; tries++) {
        s.len = 0;
        if (s.out)
            s.out[0] = 0;
        if (!gt_gen(&s, g->rules[g->root].node, 0)) {
            res = s.out ? xstrdup(s.out) : xstrdup("");
        }
    }
    free(s.out);
    free(s.height);
    return res;
}

/* A copy of text with one random edit: a character removed, added, replaced or repeated. */
static inline char *gt_mutate(const char *text, uint64_t seed)
{
    uint32_t *cps;
    size_t n;
    if (gt_decode(text, &cps, &n))
        return xstrdup(text);
    struct gt_sample s = {NULL, NULL, seed * 40503u + 7, NULL, 0, 0};
    size_t at = n ? gt_rand(&s) % (n + 1) : 0;
    uint32_t op = gt_rand(&s) % 4;
    for (size_t i = 0; i <= n; i++) {
        if (i == at) {
            if (op == 1 || op == 2) {
                static const uint32_t junk[] = {'"', '\\', ',', '}', ']',  ' ', '0',
                                                'a', '-',  '.', 'e', '\n', 0xE9};
                gt_put(&s, junk[gt_rand(&s) % (sizeof junk / sizeof *junk)]);
            }
            if (op == 3 && i < n)
                gt_put(&s, cps[i]);
            if ((op == 0 || op == 2) && i < n)
                continue; /* removed or replaced */
        }
        if (i < n)
            gt_put(&s, cps[i]);
    }
    free(cps);
    char *r = s.out ? s.out : xstrdup("");
    return r;
}

#endif
