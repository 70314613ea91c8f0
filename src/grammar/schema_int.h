/* Internals of the JSON schema converter shared by schema.c and schema_pattern.c. */
#ifndef HEARTH_GRAMMAR_SCHEMA_INT_H
#define HEARTH_GRAMMAR_SCHEMA_INT_H

#include "base/buf.h"
#include "base/err.h"

#include <jansson.h>

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

/* The full name of rule base (prefix added, invalid characters replaced), suffix appended when not
 * NULL; malloc'd. */
char *conv_full_name(struct conv *c, const char *base, const char *suffix);
struct conv_rule *conv_find_rule(struct conv *c, const char *name);

/* The built-in rule prim added under the name `name` (prim itself, or "root"). */
char *conv_prim_as(struct conv *c, const char *name, const char *prim);

/* Whether a rule name is taken by a built-in rule or the root. */
int conv_is_reserved(const char *name);

/* The keywords the converter reads; a schema's keywords that its branch did not use are an
 * error (conv_check_keys), so nothing is silently ignored. */
enum kw {
    KW_TYPE,
    KW_ENUM,
    KW_CONST,
    KW_PROPERTIES,
    KW_REQUIRED,
    KW_ADDITIONAL,
    KW_ITEMS,
    KW_PREFIX_ITEMS,
    KW_MIN_ITEMS,
    KW_MAX_ITEMS,
    KW_MIN_LENGTH,
    KW_MAX_LENGTH,
    KW_PATTERN,
    KW_FORMAT,
    KW_MINIMUM,
    KW_MAXIMUM,
    KW_EX_MINIMUM,
    KW_EX_MAXIMUM,
    KW_ANY_OF,
    KW_ONE_OF,
    KW_ALL_OF,
    KW_REF,
    KW_NULLABLE,
};

#define BIT(k) (1u << (k))

/* ERR_BAD_REQUEST naming the first keyword of s that is neither in used nor an annotation. */
int conv_check_keys(struct conv *c, json_t *s, uint32_t used, const char *path);

/* JSON pointers for messages: path/key (key escaped) and path/key/i; malloc'd. */
char *conv_sub_path(const char *path, const char *key);
char *conv_sub_path_i(const char *path, const char *key, size_t i);
/* Rule names: name-more, or more when name is empty; malloc'd. */
char *conv_join_name(const char *name, const char *more);

/* A non-negative count keyword (minItems...) at most SCHEMA_MAX_REPEAT into *out, when present. */
int conv_get_count(struct conv *c, json_t *s, const char *key, const char *path, int64_t *out);
/* item repeated min..max times (max < 0: no bound), separated by sep when not NULL. */
void conv_repetition(struct buf *b, const char *item, int64_t min, int64_t max, const char *sep);
/* The GBNF literal of a JSON value written compactly. */
int conv_const_literal(struct conv *c, struct buf *b, json_t *v, const char *path);
/* The value a local reference ("#", "#/a/b") points at in root, or NULL. */
json_t *conv_resolve_pointer(json_t *root, const char *ref);

/* The walk over one schema document. */
struct walk {
    json_t *root;
    char **resolving; /* $refs being converted, for cycles */
    size_t n_resolving;
};

/* The rule for schema s named after name (the property path); its full name, malloc'd, or NULL
 * after conv_fail. path is s's JSON pointer, for messages. */
char *conv_visit(struct conv *c, struct walk *w, json_t *s, const char *name, const char *path);

/* Objects, arrays and allOf (schema_object.c); used collects the keywords read. */
char *conv_visit_object(struct conv *c, struct walk *w, json_t *s, const char *name,
                        const char *rule_name, const char *path, uint32_t *used);
char *conv_visit_array(struct conv *c, struct walk *w, json_t *s, const char *name,
                       const char *rule_name, const char *path, uint32_t *used);
char *conv_visit_all_of(struct conv *c, struct walk *w, json_t *s, const char *name,
                        const char *rule_name, const char *path);

/* The rule for a string matching the regular expression pattern (schema_pattern.c): its full
 * name, malloc'd, or NULL after conv_fail. path names the schema in messages. */
char *conv_pattern(struct conv *c, const char *pattern, const char *rule_name, const char *path);

#endif
