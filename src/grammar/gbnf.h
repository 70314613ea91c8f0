/* GBNF, llama.cpp's grammar format: a parser and checker that runs before a grammar reaches
 * libllama.
 *
 * libllama parses a grammar with a recursive descent that recurses once per nested group, and
 * expands repetitions into rules; a hostile grammar (60,000 nested parentheses, `x{0,100000}`)
 * crashes or stalls it. gbnf_parse reads the same syntax as llama-grammar.cpp (rules `name ::=`,
 * literals, character classes, `.`, groups, `* + ? {m,n}`, `<token>` references, `#` comments)
 * and refuses, with a message naming the place, what libllama would refuse (syntax errors,
 * undefined rules, a missing root, left recursion) and what is past the limits below.
 *
 * The parsed form (struct gbnf) is a plain tree of nodes per rule, for callers that walk a
 * grammar (the tests' matcher and sampler). Not thread-safe per object; no global state.
 */
#ifndef HEARTH_GRAMMAR_GBNF_H
#define HEARTH_GRAMMAR_GBNF_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

#define GBNF_MAX_LEN     (1u << 20) /* bytes of grammar text */
#define GBNF_MAX_NESTING 64         /* nested groups `((...))` */
#define GBNF_MAX_RULES                                                                             \
    20000                        /* rules, counting those libllama generates for groups and        \
                                    repetitions */
#define GBNF_MAX_REPEAT   2000   /* m and n in {m,n}: libllama's own threshold */
#define GBNF_MAX_ELEMENTS 500000 /* grammar elements after repetitions are expanded */
#define GBNF_MAX_CHAIN    1000   /* rules entered before a character must be read */

enum gbnf_kind {
    GBNF_ALT,   /* a | b | ...: kids */
    GBNF_SEQ,   /* a b ...: kids (none: the empty string) */
    GBNF_LIT,   /* code points cps[a .. a+n) */
    GBNF_CLASS, /* ranges cps[a .. a+2n) as (lo, hi) pairs; negated */
    GBNF_ANY,   /* . */
    GBNF_REF,   /* rule a */
    GBNF_REP,   /* kid a repeated min..max times (max GBNF_INF: unbounded) */
    GBNF_TOKEN, /* <...> or !<...>: a token of the vocabulary; never matches text here */
};

#define GBNF_INF UINT32_MAX

struct gbnf_node {
    uint8_t kind;
    uint8_t negated;
    uint32_t a, n;     /* ALT/SEQ: kids[a .. a+n); LIT/CLASS: see above; REF: rule */
    uint32_t min, max; /* REP */
};

struct gbnf_rule {
    char *name;
    uint32_t node; /* the rule's ALT node; UINT32_MAX while only referenced */
};

struct gbnf {
    struct gbnf_node *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *kids;
    uint32_t n_kids, cap_kids;
    uint32_t *cps;
    uint32_t n_cps, cap_cps;
    struct gbnf_rule *rules;
    uint32_t n_rules, cap_rules;
    uint32_t root; /* the rule named by gbnf_parse's root argument */
};

/* Parses and checks text (NUL-terminated). root names the start rule ("root" for libllama's
 * samplers). On success *out (free with gbnf_free) holds the tree; out may be NULL to only
 * check. ERR_BAD_REQUEST or ERR_TOO_LARGE with a message otherwise. */
int gbnf_parse(const char *text, const char *root, struct gbnf **out, struct err *e);

/* gbnf_parse without keeping the tree: what the APIs call on a `grammar` field. */
int gbnf_check(const char *text, struct err *e);

void gbnf_free(struct gbnf *g);

/* The index of the rule called name, or -1. */
int gbnf_find(const struct gbnf *g, const char *name);

#endif
