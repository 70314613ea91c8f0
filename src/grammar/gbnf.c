/* GBNF parser and checker (gbnf.h): the syntax of llama-grammar.cpp's parser, read with a
 * recursion bounded by GBNF_MAX_NESTING, then the checks libllama makes after parsing
 * (undefined rules, left recursion) and the limits it lacks. */
#include "grammar/gbnf.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    struct gbnf *g;
    const char *text;
    struct err *e;
    int failed;
    uint64_t symbols;  /* rules libllama will create: names, groups, repetition rules */
    uint64_t elements; /* grammar elements after repetitions are expanded */
    uint32_t *slots;   /* rule names by hash: rule index + 1, 0 for empty */
    size_t n_slots;    /* a power of two, at least twice the rules */
};

/* A small growable list of node indices, for the kids of one ALT or SEQ being built. */
struct ids {
    uint32_t *v;
    uint32_t n, cap;
};

static void ids_push(struct ids *l, uint32_t x)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = x;
}

static int fail(struct parser *p, const char *at, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, const char *at, int code, const char *fmt, ...)
{
    if (p->failed)
        return p->e ? p->e->code : code;
    p->failed = 1;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!at)
        return err_set(p->e, code, "invalid grammar: %s", msg);
    /* Line and column of at, and a short excerpt, so the user can find the place. */
    int line = 1, col = 1;
    for (const char *s = p->text; s < at; s++) {
        if (*s == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    size_t n = strcspn(at, "\r\n");
    return err_set(p->e, code, "invalid grammar at line %d column %d: %s (near '%.*s')", line, col,
                   msg, (int)(n > 24 ? 24 : n), at);
}

static uint32_t new_node(struct gbnf *g, enum gbnf_kind kind)
{
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes = g->cap_nodes ? g->cap_nodes * 2 : 64;
        g->nodes = xrealloc(g->nodes, g->cap_nodes * sizeof *g->nodes);
    }
    struct gbnf_node *nd = &g->nodes[g->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = (uint8_t)kind;
    return g->n_nodes++;
}

static uint32_t push_cp(struct gbnf *g, uint32_t cp)
{
    if (g->n_cps == g->cap_cps) {
        g->cap_cps = g->cap_cps ? g->cap_cps * 2 : 64;
        g->cps = xrealloc(g->cps, g->cap_cps * sizeof *g->cps);
    }
    g->cps[g->n_cps] = cp;
    return g->n_cps++;
}

static uint32_t set_kids(struct gbnf *g, uint32_t node, struct ids *l)
{
    if (g->n_kids + l->n > g->cap_kids) {
        while (g->n_kids + l->n > g->cap_kids)
            g->cap_kids = g->cap_kids ? g->cap_kids * 2 : 64;
        g->kids = xrealloc(g->kids, g->cap_kids * sizeof *g->kids);
    }
    g->nodes[node].a = g->n_kids;
    g->nodes[node].n = l->n;
    if (l->n)
        memcpy(g->kids + g->n_kids, l->v, l->n * sizeof *l->v);
    g->n_kids += l->n;
    free(l->v);
    memset(l, 0, sizeof *l);
    return node;
}

int gbnf_find(const struct gbnf *g, const char *name)
{
    for (uint32_t i = 0; i < g->n_rules; i++)
        if (!strcmp(g->rules[i].name, name))
            return (int)i;
    return -1;
}

static size_t name_hash(const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return (size_t)h;
}

/* The slot of name: where it is, or the empty one where it would go. */
static uint32_t *name_slot(struct parser *p, const char *name, size_t len)
{
    size_t i = name_hash(name, len) & (p->n_slots - 1);
    for (;; i = (i + 1) & (p->n_slots - 1)) {
        uint32_t v = p->slots[i];
        if (!v)
            return &p->slots[i];
        const char *r = p->g->rules[v - 1].name;
        if (strlen(r) == len && !memcmp(r, name, len))
            return &p->slots[i];
    }
}

static int rule_id(struct parser *p, const char *name, size_t len)
{
    struct gbnf *g = p->g;
    if (!p->slots || 2 * (size_t)(g->n_rules + 1) > p->n_slots) {
        free(p->slots);
        p->n_slots = p->n_slots ? p->n_slots * 2 : 64;
        p->slots = xcalloc(p->n_slots, sizeof *p->slots);
        for (uint32_t i = 0; i < g->n_rules; i++)
            *name_slot(p, g->rules[i].name, strlen(g->rules[i].name)) = i + 1;
    }
    uint32_t *slot = name_slot(p, name, len);
    if (*slot)
        return (int)(*slot - 1);
    if (++p->symbols > GBNF_MAX_RULES)
        return fail(p, name, ERR_TOO_LARGE, "more than %d rules", GBNF_MAX_RULES);
    if (g->n_rules == g->cap_rules) {
        g->cap_rules = g->cap_rules ? g->cap_rules * 2 : 16;
        g->rules = xrealloc(g->rules, g->cap_rules * sizeof *g->rules);
    }
    g->rules[g->n_rules].name = xstrndup(name, len);
    g->rules[g->n_rules].node = UINT32_MAX;
    *slot = g->n_rules + 1;
    return (int)g->n_rules++;
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static const char *skip_space(const char *s, int newline_ok)
{
    while (*s == ' ' || *s == '\t' || *s == '#' || (newline_ok && (*s == '\r' || *s == '\n'))) {
        if (*s == '#') {
            while (*s && *s != '\r' && *s != '\n')
                s++;
        } else {
            s++;
        }
    }
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class: an escape or one UTF-8 code point. NULL on error. */
static const char *parse_char(struct parser *p, const char *s, uint32_t *cp)
{
    if (*s == '\\') {
        int nhex = 0;
        switch (s[1]) {
        case 'x': nhex = 2; break;
        case 'u': nhex = 4; break;
        case 'U': nhex = 8; break;
        case 't': *cp = '\t'; return s + 2;
        case 'r': *cp = '\r'; return s + 2;
        case 'n': *cp = '\n'; return s + 2;
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-': *cp = (unsigned char)s[1]; return s + 2;
        default: fail(p, s, ERR_BAD_REQUEST, "unknown escape"); return NULL;
        }
        uint32_t v = 0;
        for (int i = 0; i < nhex; i++) {
            int h = hexval(s[2 + i]);
            if (h < 0) {
                fail(p, s, ERR_BAD_REQUEST, "expecting %d hex digits", nhex);
                return NULL;
            }
            v = v << 4 | (uint32_t)h;
        }
        if (v > 0x10FFFF) {
            fail(p, s, ERR_BAD_REQUEST, "code point past U+10FFFF");
            return NULL;
        }
        *cp = v;
        return s + 2 + nhex;
    }
    const unsigned char *u = (const unsigned char *)s;
    if (!*u) {
        fail(p, s, ERR_BAD_REQUEST, "unexpected end of input");
        return NULL;
    }
    int len = u[0] < 0x80         ? 1
              : (u[0] >> 5) == 6  ? 2
              : (u[0] >> 4) == 14 ? 3
              : (u[0] >> 3) == 30 ? 4
                                  : 0;
    if (!len) {
        fail(p, s, ERR_BAD_REQUEST, "not valid UTF-8");
        return NULL;
    }
    uint32_t v = len == 1 ? u[0] : u[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            fail(p, s, ERR_BAD_REQUEST, "not valid UTF-8");
            return NULL;
        }
        v = v << 6 | (u[i] & 0x3F);
    }
    *cp = v;
    return s + len;
}

static const char *parse_alternates(struct parser *p, const char *s, int nested, int depth,
                                    uint32_t *out);

/* Wraps the last element of seq in a repetition, as libllama's handle_repetitions would, with
 * its check on how many rules that generates. */
static int repeat(struct parser *p, const char *at, struct ids *seq, uint64_t *n_prev,
                  uint64_t *prev_size, uint32_t min, uint32_t max)
{
    if (!seq->n)
        return fail(p, at, ERR_BAD_REQUEST, "expecting an item before */+/?/{");
    /* operators stacked on one item (x*+?...) nest like groups */
    int stacked = 0;
    for (uint32_t k = seq->v[seq->n - 1]; p->g->nodes[k].kind == GBNF_REP; k = p->g->nodes[k].a)
        stacked++;
    if (stacked >= 8)
        return fail(p, at, ERR_TOO_LARGE, "more than 8 repetition operators on one item");
    uint64_t total = (max != GBNF_INF && max > 0) ? max : (min > 0 ? min : 1);
    if (*n_prev * total > GBNF_MAX_REPEAT)
        return fail(p, at, ERR_TOO_LARGE,
                    "a repetition generates more than %d rules (libllama's limit); repeat less "
                    "or simplify the repeated item",
                    GBNF_MAX_REPEAT);
    p->symbols += max == GBNF_INF ? 1 : max - min;
    if (p->symbols > GBNF_MAX_RULES)
        return fail(p, at, ERR_TOO_LARGE, "more than %d rules once repetitions are expanded",
                    GBNF_MAX_RULES);
    uint64_t copies = max == GBNF_INF ? (uint64_t)min + 1 : max;
    p->elements += *prev_size * (copies ? copies - 1 : 0) + 2;
    *prev_size *= copies ? copies : 1;
    if (p->elements > GBNF_MAX_ELEMENTS)
        return fail(p, at, ERR_TOO_LARGE, "more than %d elements once repetitions are expanded",
                    GBNF_MAX_ELEMENTS);
    *n_prev *= total;
    uint32_t r = new_node(p->g, GBNF_REP);
    p->g->nodes[r].a = seq->v[seq->n - 1];
    p->g->nodes[r].min = min;
    p->g->nodes[r].max = max;
    seq->v[seq->n - 1] = r;
    return 0;
}

static const char *parse_count(struct parser *p, const char *s, uint32_t *v)
{
    if (*s < '0' || *s > '9') {
        fail(p, s, ERR_BAD_REQUEST, "expecting an integer");
        return NULL;
    }
    uint64_t x = 0;
    while (*s >= '0' && *s <= '9') {
        x = x * 10 + (uint64_t)(*s++ - '0');
        if (x > GBNF_MAX_REPEAT) {
            fail(p, s, ERR_TOO_LARGE, "a repetition count is over %d", GBNF_MAX_REPEAT);
            return NULL;
        }
    }
    *v = (uint32_t)x;
    return s;
}

static const char *parse_sequence(struct parser *p, const char *s, int nested, int depth,
                                  uint32_t *out)
{
    struct gbnf *g = p->g;
    struct ids seq = {0};
    uint64_t n_prev = 1, prev_size = 0;
    while (*s && !p->failed) {
        if (*s == '"') {
            uint32_t nd = new_node(g, GBNF_LIT);
            g->nodes[nd].a = g->n_cps;
            s++;
            while (*s != '"') {
                uint32_t cp;
                if (!*s) {
                    fail(p, s, ERR_BAD_REQUEST, "unterminated literal");
                    break;
                }
                if (!(s = parse_char(p, s, &cp)))
                    break;
                push_cp(g, cp);
                g->nodes[nd].n++;
            }
            if (p->failed)
                break;
            ids_push(&seq, nd);
            n_prev = 1;
            prev_size = g->nodes[nd].n;
            p->elements += prev_size;
            s = skip_space(s + 1, nested);
        } else if (*s == '[') {
            const char *start = s;
            uint32_t nd = new_node(g, GBNF_CLASS);
            g->nodes[nd].a = g->n_cps;
            s++;
            if (*s == '^') {
                g->nodes[nd].negated = 1;
                s++;
            }
            while (*s != ']') {
                uint32_t lo, hi;
                if (!*s) {
                    fail(p, start, ERR_BAD_REQUEST, "unterminated character class");
                    break;
                }
                if (!(s = parse_char(p, s, &lo)))
                    break;
                hi = lo;
                if (s[0] == '-' && s[1] != ']') {
                    if (!s[1]) {
                        fail(p, start, ERR_BAD_REQUEST, "unterminated character class");
                        break;
                    }
                    if (!(s = parse_char(p, s + 1, &hi)))
                        break;
                }
                push_cp(g, lo);
                push_cp(g, hi);
                g->nodes[nd].n++;
            }
            if (p->failed)
                break;
            if (!g->nodes[nd].n) {
                fail(p, start, ERR_BAD_REQUEST, "empty character class");
                break;
            }
            ids_push(&seq, nd);
            n_prev = 1;
            prev_size = g->nodes[nd].n + 1;
            p->elements += prev_size;
            s = skip_space(s + 1, nested);
        } else if (*s == '<' || (*s == '!' && s[1] == '<')) {
            const char *start = s;
            uint32_t nd = new_node(g, GBNF_TOKEN);
            g->nodes[nd].negated = *s == '!';
            s += *s == '!' ? 2 : 1;
            while (*s && *s != '>')
                s++;
            if (*s != '>') {
                fail(p, start, ERR_BAD_REQUEST, "expecting '>'");
                break;
            }
            ids_push(&seq, nd);
            n_prev = 1;
            prev_size = 1;
            p->elements++;
            s = skip_space(s + 1, nested);
        } else if (is_word(*s)) {
            const char *end = s;
            while (is_word(*end))
                end++;
            int id = rule_id(p, s, (size_t)(end - s));
            if (id < 0)
                break;
            uint32_t nd = new_node(g, GBNF_REF);
            g->nodes[nd].a = (uint32_t)id;
            ids_push(&seq, nd);
            n_prev = 1;
            prev_size = 1;
            p->elements++;
            s = skip_space(end, nested);
        } else if (*s == '(') {
            if (depth + 1 > GBNF_MAX_NESTING) {
                fail(p, s, ERR_TOO_LARGE, "groups nested more than %d deep", GBNF_MAX_NESTING);
                break;
            }
            uint64_t sym0 = p->symbols++, el0 = p->elements;
            uint32_t nd;
            const char *open = s;
            s = parse_alternates(p, skip_space(s + 1, 1), 1, depth + 1, &nd);
            if (!s)
                break;
            if (*s != ')') {
                fail(p, open, ERR_BAD_REQUEST, "expecting ')' to close this group");
                break;
            }
            ids_push(&seq, nd);
            n_prev = p->symbols - sym0 > 1 ? p->symbols - sym0 : 1;
            prev_size = p->elements - el0 + 1;
            s = skip_space(s + 1, nested);
        } else if (*s == '.') {
            ids_push(&seq, new_node(g, GBNF_ANY));
            n_prev = 1;
            prev_size = 1;
            p->elements++;
            s = skip_space(s + 1, nested);
        } else if (*s == '*' || *s == '+' || *s == '?') {
            const char *at = s;
            uint32_t min = *s == '+' ? 1 : 0, max = *s == '?' ? 1 : GBNF_INF;
            s = skip_space(s + 1, nested);
            repeat(p, at, &seq, &n_prev, &prev_size, min, max);
        } else if (*s == '{') {
            const char *at = s;
            uint32_t min, max = GBNF_INF;
            if (!(s = parse_count(p, skip_space(s + 1, nested), &min)))
                break;
            s = skip_space(s, nested);
            if (*s == '}') {
                max = min;
            } else if (*s == ',') {
                s = skip_space(s + 1, nested);
                if (*s >= '0' && *s <= '9') {
                    if (!(s = parse_count(p, s, &max)))
                        break;
                    s = skip_space(s, nested);
                    if (max < min) {
                        fail(p, at, ERR_BAD_REQUEST, "{m,n} with n below m");
                        break;
                    }
                }
                if (*s != '}') {
                    fail(p, s, ERR_BAD_REQUEST, "expecting '}'");
                    break;
                }
            } else {
                fail(p, s, ERR_BAD_REQUEST, "expecting ',' or '}'");
                break;
            }
            s = skip_space(s + 1, nested);
            repeat(p, at, &seq, &n_prev, &prev_size, min, max);
        } else {
            break;
        }
    }
    uint32_t nd = new_node(g, GBNF_SEQ);
    set_kids(g, nd, &seq);
    *out = nd;
    return p->failed ? NULL : s;
}

static const char *parse_alternates(struct parser *p, const char *s, int nested, int depth,
                                    uint32_t *out)
{
    struct ids alts = {0};
    uint32_t nd;
    s = parse_sequence(p, s, nested, depth, &nd);
    if (s)
        ids_push(&alts, nd);
    while (s && *s == '|') {
        s = parse_sequence(p, skip_space(s + 1, 1), nested, depth, &nd);
        if (s)
            ids_push(&alts, nd);
    }
    uint32_t alt = new_node(p->g, GBNF_ALT);
    set_kids(p->g, alt, &alts);
    *out = alt;
    return s;
}

static const char *parse_rule(struct parser *p, const char *s)
{
    const char *end = s;
    while (is_word(*end))
        end++;
    if (end == s) {
        fail(p, s, ERR_BAD_REQUEST, "expecting a rule name");
        return NULL;
    }
    int id = rule_id(p, s, (size_t)(end - s));
    if (id < 0)
        return NULL;
    if (p->g->rules[id].node != UINT32_MAX) {
        fail(p, s, ERR_BAD_REQUEST, "rule '%s' is defined twice", p->g->rules[id].name);
        return NULL;
    }
    const char *pos = skip_space(end, 0);
    if (strncmp(pos, "::=", 3) != 0) {
        fail(p, pos, ERR_BAD_REQUEST, "expecting ::=");
        return NULL;
    }
    uint32_t nd;
    pos = parse_alternates(p, skip_space(pos + 3, 1), 0, 0, &nd);
    if (!pos)
        return NULL;
    p->g->rules[id].node = nd;
    if (*pos == '\r')
        pos += pos[1] == '\n' ? 2 : 1;
    else if (*pos == '\n')
        pos++;
    else if (*pos) {
        fail(p, pos, ERR_BAD_REQUEST, "expecting a newline or the end");
        return NULL;
    }
    return skip_space(pos, 1);
}

/* ---- checks on the whole grammar ---- */

struct analysis {
    struct parser *p;
    uint8_t *nullable; /* per rule */
    struct ids *leads; /* per rule: rules reachable before a character is read */
    uint8_t *state;    /* per rule: 0 new, 1 in progress, 2 done */
    uint32_t *chain;   /* per rule: the longest leading chain from it */
};

static int node_nullable(const struct gbnf *g, const uint8_t *nullable, uint32_t i)
{
    const struct gbnf_node *nd = &g->nodes[i];
    switch (nd->kind) {
    case GBNF_ALT:
        for (uint32_t k = 0; k < nd->n; k++)
            if (node_nullable(g, nullable, g->kids[nd->a + k]))
                return 1;
        return 0;
    case GBNF_SEQ:
        for (uint32_t k = 0; k < nd->n; k++)
            if (!node_nullable(g, nullable, g->kids[nd->a + k]))
                return 0;
        return 1;
    case GBNF_LIT: return nd->n == 0;
    case GBNF_REF: return nullable[nd->a];
    case GBNF_REP: return nd->min == 0 || node_nullable(g, nullable, nd->a);
    default: return 0;
    }
}

/* Collects the rules node i may enter before reading a character; returns whether it can
 * match the empty string. */
static int node_leads(struct analysis *an, uint32_t i, struct ids *out)
{
    const struct gbnf *g = an->p->g;
    const struct gbnf_node *nd = &g->nodes[i];
    switch (nd->kind) {
    case GBNF_ALT: {
        int any = 0;
        for (uint32_t k = 0; k < nd->n; k++)
            any |= node_leads(an, g->kids[nd->a + k], out);
        return any;
    }
    case GBNF_SEQ:
        for (uint32_t k = 0; k < nd->n; k++)
            if (!node_leads(an, g->kids[nd->a + k], out))
                return 0;
        return 1;
    case GBNF_REF: ids_push(out, nd->a); return an->nullable[nd->a];
    case GBNF_REP: {
        int nl = node_leads(an, nd->a, out);
        if (nl && nd->max == GBNF_INF)
            fail(an->p, NULL, ERR_BAD_REQUEST,
                 "an item repeated without bound can match the empty string (libllama "
                 "rejects this as left recursion)");
        return nd->min == 0 || nl;
    }
    default: return node_nullable(g, an->nullable, i);
    }
}

static int visit_rule(struct analysis *an, uint32_t r, uint32_t depth)
{
    struct gbnf *g = an->p->g;
    if (an->state[r] == 2)
        return 0;
    if (an->state[r] == 1)
        return fail(an->p, NULL, ERR_BAD_REQUEST,
                    "rule '%s' is left-recursive (it can reach itself before reading a "
                    "character), which libllama does not support",
                    g->rules[r].name);
    if (depth > GBNF_MAX_CHAIN)
        return fail(an->p, NULL, ERR_TOO_LARGE,
                    "rules are chained more than %d deep before a character is read",
                    GBNF_MAX_CHAIN);
    an->state[r] = 1;
    uint32_t best = 0;
    for (uint32_t k = 0; k < an->leads[r].n; k++) {
        uint32_t t = an->leads[r].v[k];
        if (visit_rule(an, t, depth + 1))
            return -1;
        if (an->chain[t] > best)
            best = an->chain[t];
    }
    an->chain[r] = best + 1;
    if (an->chain[r] > GBNF_MAX_CHAIN)
        return fail(an->p, NULL, ERR_TOO_LARGE,
                    "rules are chained more than %d deep before a character is read",
                    GBNF_MAX_CHAIN);
    an->state[r] = 2;
    return 0;
}

static int analyse(struct parser *p)
{
    struct gbnf *g = p->g;
    struct analysis an = {.p = p};
    an.nullable = xcalloc(g->n_rules + 1, 1);
    an.state = xcalloc(g->n_rules + 1, 1);
    an.chain = xcalloc(g->n_rules + 1, sizeof *an.chain);
    an.leads = xcalloc(g->n_rules + 1, sizeof *an.leads);
    /* Which rules match the empty string: a fixpoint, with its work bounded. */
    uint64_t work = 0;
    /* Passes alternate in direction, so that a chain of rules written in either order settles
     * in two. */
    for (int changed = 1, pass = 0; changed && !p->failed; pass++) {
        changed = 0;
        for (uint32_t k = 0; k < g->n_rules; k++) {
            uint32_t r = pass % 2 ? g->n_rules - 1 - k : k;
            if (!an.nullable[r] && node_nullable(g, an.nullable, g->rules[r].node)) {
                an.nullable[r] = 1;
                changed = 1;
            }
        }
        work += g->n_nodes;
        if (changed && work > 50000000ull)
            fail(p, NULL, ERR_TOO_LARGE, "the grammar is too complex to check");
    }
    for (uint32_t r = 0; r < g->n_rules && !p->failed; r++)
        node_leads(&an, g->rules[r].node, &an.leads[r]);
    for (uint32_t r = 0; r < g->n_rules && !p->failed; r++)
        visit_rule(&an, r, 0);
    for (uint32_t r = 0; r < g->n_rules; r++)
        free(an.leads[r].v);
    free(an.leads);
    free(an.nullable);
    free(an.state);
    free(an.chain);
    return p->failed ? p->e->code : 0;
}

int gbnf_parse(const char *text, const char *root, struct gbnf **out, struct err *e)
{
    struct err local;
    if (!e)
        e = &local;
    if (out)
        *out = NULL;
    if (!text)
        return err_set(e, ERR_BAD_REQUEST, "invalid grammar: none given");
    if (strlen(text) > GBNF_MAX_LEN)
        return err_set(e, ERR_TOO_LARGE, "invalid grammar: longer than %u bytes", GBNF_MAX_LEN);
    struct gbnf *g = xcalloc(1, sizeof *g);
    struct parser p = {.g = g, .text = text, .e = e};
    const char *s = skip_space(text, 1);
    while (s && *s)
        s = parse_rule(&p, s);
    if (!p.failed) {
        for (uint32_t r = 0; r < g->n_rules; r++)
            if (g->rules[r].node == UINT32_MAX) {
                fail(&p, NULL, ERR_BAD_REQUEST, "rule '%s' is used but never defined",
                     g->rules[r].name);
                break;
            }
    }
    int rid = p.failed ? -1 : gbnf_find(g, root);
    if (!p.failed && rid < 0)
        fail(&p, NULL, ERR_BAD_REQUEST, "there is no rule '%s' to start from", root);
    if (!p.failed)
        analyse(&p);
    free(p.slots);
    if (p.failed) {
        gbnf_free(g);
        return e->code;
    }
    g->root = (uint32_t)rid;
    if (out)
        *out = g;
    else
        gbnf_free(g);
    return 0;
}

int gbnf_check(const char *text, struct err *e)
{
    return gbnf_parse(text, "root", NULL, e);
}

void gbnf_free(struct gbnf *g)
{
    if (!g)
        return;
    for (uint32_t i = 0; i < g->n_rules; i++)
        free(g->rules[i].name);
    free(g->rules);
    free(g->nodes);
    free(g->kids);
    free(g->cps);
    free(g);
}
