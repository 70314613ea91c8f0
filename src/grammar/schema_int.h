/* Internals of the JSON schema converter shared by schema.c and schema_pattern.c. */
#ifndef HEARTH_GRAMMAR_SCHEMA_INT_H
#define HEARTH_GRAMMAR_SCHEMA_INT_H

#include "base/buf.h"
#include "base/err.h"

#include <stdint.h>

struct conv_rule {
    char *name; /* with the prefix */
    char *body;
};

struct conv {
    const char *prefix;
    struct conv_rule *rules;
    uint32_t n_rules, cap_rules;
    struct err *e;
    int failed;
    int depth;
    size_t size; /* bytes of rule text so far */
};

int conv_fail(struct conv *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Adds rule base (escaped, prefixed) with body, llama.cpp's way: the same name with another
 * body gets a number. Returns the rule's full name (malloc'd), or NULL after conv_fail. */
char *conv_add_rule(struct conv *c, const char *base, const char *body);

/* A built-in rule (space, char, string, value...) and the ones it uses; its full name,
 * malloc'd. */
char *conv_prim(struct conv *c, const char *name);

/* Appends the GBNF literal of the n bytes of UTF-8 text s. */
void conv_literal(struct buf *b, const char *s, size_t n);

/* The rule for a string matching the regular expression pattern (schema_pattern.c): its full
 * name, malloc'd, or NULL after conv_fail. path names the schema in messages. */
char *conv_pattern(struct conv *c, const char *pattern, const char *rule_name, const char *path);

#endif
