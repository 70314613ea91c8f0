/* JSON schema → GBNF: the grammar that constrains generation to JSON matching a schema.
 *
 * The behaviour follows llama.cpp's converter (common/json-schema-to-grammar.cpp, the pinned
 * tree) so that a schema means the same under hearth and llama-server: the same whitespace rule,
 * numbers of at most 16 integer digits, properties in the schema's order with the required ones
 * first and the optional ones after them in order, and objects closed unless
 * `additionalProperties` opens them. It differs where llama.cpp silently accepts more or less
 * than the schema says: an unsupported keyword, pattern or format is an error naming the keyword
 * and its JSON pointer, never ignored; patterns are matched on the JSON-encoded text, so a `.`
 * or `[^a]` cannot produce an unescaped quote.
 *
 * Supported: type (one or a list), enum, const, properties, required, additionalProperties
 * (false, true, a schema), items, prefixItems, minItems, maxItems, minLength, maxLength,
 * pattern, format (date, time, date-time, uuid, email, ipv4), minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum (integers), anyOf, oneOf (as anyOf), allOf (of objects or
 * of enums), $ref into the same document ($defs, definitions, any JSON pointer), nullable, and
 * the empty schema or `true` (any JSON value). Annotations (title, description, default,
 * examples, $schema, $id, $comment, deprecated, readOnly, writeOnly) are ignored.
 *
 * Thread-safe: no global state.
 */
#ifndef HEARTH_GRAMMAR_SCHEMA_H
#define HEARTH_GRAMMAR_SCHEMA_H

#include "base/err.h"

#include <jansson.h>

#define SCHEMA_MAX_DEPTH         64   /* nested schemas */
#define SCHEMA_MAX_RULES         4000 /* rules in the grammar */
#define SCHEMA_MAX_REPEAT        1000 /* minItems, maxItems, minLength, maxLength, {m,n} */
#define SCHEMA_MAX_PATTERN_DEPTH 32   /* nested groups in a pattern */
#define SCHEMA_MAX_INT           1000000000000000LL /* |integer bounds|: 16 digits is all a grammar emits */
#define SCHEMA_MAX_GRAMMAR       (1u << 20)         /* bytes of grammar text */

/* Converts schema (borrowed) into a GBNF grammar. Every rule name starts with prefix (letters,
 * digits and '-' only; "" for none), and the start rule is `<prefix>root`, so several schemas
 * converted with different prefixes can be joined into one grammar. On success *out is the
 * malloc'd grammar text (the caller frees it), checked with gbnf_parse. Otherwise
 * ERR_BAD_REQUEST (an invalid or unsupported schema: the message names the keyword and the JSON
 * pointer of the schema that holds it, like "#/properties/age") or ERR_TOO_LARGE (a limit
 * above), *out is NULL, and e holds the message. */
int grammar_from_schema(json_t *schema, const char *prefix, char **out, struct err *e);

#endif
