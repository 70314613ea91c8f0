/* Objects, arrays and allOf for the schema converter (schema_int.h): llama.cpp's object shape
 * (required properties in order, then the optional ones in order through "-rest" rules),
 * additionalProperties through a trie of the names it must not match, tuples and repetitions. */
#include "base/buf.h"
#include "base/util.h"
#include "grammar/schema.h"
#include "grammar/schema_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- objects ---- */

struct prop {
    const char *name;
    char *kv; /* full rule name */
    int required;
};

/* The trie of property names for not_strings: a node's children by code point. */
struct trie {
    uint32_t cp;
    int end;
    struct trie *kids;
    size_t n;
};

static void trie_add(struct trie *t, const unsigned char *s)
{
    if (!*s) {
        t->end = 1;
        return;
    }
    int len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : 4;
    uint32_t cp = len == 1 ? s[0] : s[0] & (0x7Fu >> len);
    for (int i = 1; i < len && s[i]; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    size_t k = 0;
    while (k < t->n && t->kids[k].cp != cp)
        k++;
    if (k == t->n) {
        t->kids = xrealloc(t->kids, (t->n + 1) * sizeof *t->kids);
        memset(&t->kids[t->n], 0, sizeof *t->kids);
        t->kids[t->n++].cp = cp;
    }
    const unsigned char *next = s;
    for (int i = 0; i < len && *next; i++)
        next++;
    trie_add(&t->kids[k], next);
}

static void trie_free(struct trie *t)
{
    for (size_t i = 0; i < t->n; i++)
        trie_free(&t->kids[i]);
    free(t->kids);
}

static void class_cp(struct buf *b, uint32_t cp)
{
    if (cp == ']' || cp == '-' || cp == '\\' || cp == '"' || cp == '^')
        buf_printf(b, "\\%c", cp == '^' ? '^' : (char)cp);
    else if (cp < 0x20 || cp == 0x7F)
        buf_printf(b, "\\x%02X", cp);
    else if (cp < 0x80)
        buf_printf(b, "%c", (char)cp);
    else
        buf_printf(b, "\\U%08X", cp);
}

/* Keys (the text between the quotes) after node t's prefix that complete no property name:
 * a child's path, any other character, or the end when t is not a name itself. */
static void not_strings_node(struct buf *b, const struct trie *t, const char *ch)
{
    for (size_t i = 0; i < t->n; i++) {
        buf_puts(b, i ? " | [" : "[");
        class_cp(b, t->kids[i].cp);
        buf_puts(b, "]");
        if (t->kids[i].n) {
            buf_puts(b, " (");
            not_strings_node(b, &t->kids[i], ch);
            buf_puts(b, ")");
            if (!t->kids[i].end)
                buf_puts(b, "?");
        } else {
            buf_printf(b, " %s+", ch);
        }
    }
    /* any other unescaped character, or an escape, then anything */
    buf_puts(b, " | [^\"\\\\\\x00-\\x1F");
    for (size_t i = 0; i < t->n; i++)
        class_cp(b, t->kids[i].cp);
    buf_printf(b, "] %s* | [\\\\] ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4}) %s*", ch, ch);
}

static char *not_strings(struct conv *c, struct prop *props, size_t n, const char *path)
{
    struct trie t = {0};
    for (size_t i = 0; i < n; i++) {
        if (strlen(props[i].name) > 256) { /* the trie below recurses once per character */
            trie_free(&t);
            conv_fail(c, ERR_TOO_LARGE,
                      "additionalProperties at %s cannot be combined with a property name over "
                      "256 bytes",
                      path);
            return NULL;
        }
        for (const char *s = props[i].name; *s; s++)
            if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || *s == 0x7F) {
                trie_free(&t);
                conv_fail(c, ERR_BAD_REQUEST,
                          "additionalProperties at %s cannot be combined with a property name "
                          "holding quotes, backslashes or control characters",
                          path);
                return NULL;
            }
        trie_add(&t, (const unsigned char *)props[i].name);
    }
    char *ch = conv_prim(c, "char");
    if (!ch) {
        trie_free(&t);
        return NULL;
    }
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "[\"] ( ");
    not_strings_node(&b, &t, ch);
    buf_printf(&b, " )%s [\"]", t.end ? "" : "?");
    trie_free(&t);
    free(ch);
    return buf_steal(&b);
}

/* The object rule's body: required properties in order, then the optional ones in order, each
 * optional one possibly absent (llama.cpp's shape with its "-rest" rules). */
static char *object_body(struct conv *c, struct prop *props, size_t n, char *extra_kv,
                         const char *name)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "\"{\" %sspace ", c->prefix);
    size_t n_req = 0, n_opt = 0;
    struct prop **opt = xcalloc(n + 1, sizeof(struct prop *));
    for (size_t i = 0; i < n; i++) {
        if (props[i].required) {
            if (n_req++)
                buf_printf(&b, " \",\" %sspace ", c->prefix);
            buf_puts(&b, props[i].kv);
        } else {
            opt[n_opt++] = &props[i];
        }
    }
    struct prop star = {"*", extra_kv, 0};
    if (extra_kv)
        opt[n_opt++] = &star;
    if (!n_req && !n_opt) {
        free(opt);
        buf_reset(&b);
        buf_printf(&b, "\"{\" %sspace \"}\"", c->prefix);
        return buf_steal(&b);
    }
    if (n_opt) {
        buf_puts(&b, " (");
        if (n_req)
            buf_printf(&b, " \",\" %sspace ( ", c->prefix);
        /* rest[i]: the optional properties from i on, each possibly absent, after a comma. */
        char **rest = xcalloc(n_opt + 1, sizeof *rest);
        for (size_t i = n_opt; i-- > 1 && !c->failed;) {
            struct buf r;
            buf_init(&r, 0);
            int star_i = opt[i] == &star;
            buf_printf(&r, "( \",\" %sspace %s )%s", c->prefix, opt[i]->kv, star_i ? "*" : "?");
            if (rest[i + 1])
                buf_printf(&r, " %s", rest[i + 1]);
            char *base = conv_join_name(name, opt[i - 1]->name);
            char *rname = xstrdup(base);
            free(base);
            base = conv_join_name(rname, "rest");
            free(rname);
            /* llama.cpp names the rule after the property before it: "<name>-<k>-rest". */
            rest[i] = conv_add_rule(c, base, r.data);
            free(base);
            buf_free(&r);
        }
        for (size_t i = 0; i < n_opt && !c->failed; i++) {
            if (i)
                buf_puts(&b, " | ");
            buf_puts(&b, opt[i]->kv);
            if (opt[i] == &star)
                buf_printf(&b, " ( \",\" %sspace %s )*", c->prefix, opt[i]->kv);
            if (rest[i + 1])
                buf_printf(&b, " %s", rest[i + 1]);
        }
        for (size_t i = 0; i <= n_opt; i++)
            free(rest[i]);
        free(rest);
        if (n_req)
            buf_puts(&b, " )");
        buf_puts(&b, " )?");
    }
    buf_printf(&b, " %sspace \"}\"", c->prefix);
    free(opt);
    if (c->failed) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static void props_free(struct prop *props, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(props[i].kv);
    free(props);
}

/* Adds the kv rule of one property to props. */
static int add_prop(struct conv *c, struct walk *w, struct prop **props, size_t *n,
                    const char *pname, json_t *pschema, int required, const char *name,
                    const char *path)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*props)[i].name, pname)) {
            (*props)[i].required |= required;
            return 0; /* allOf parts naming one property twice: the first schema stays */
        }
    char *ppath = conv_sub_path(path, "properties");
    char *pp = conv_sub_path(ppath, pname);
    free(ppath);
    /* An empty property name would name the rule like the root (llama.cpp's grammar for
     * {"properties": {"": ...}} starts from the wrong rule): give it a name. */
    char *vname = conv_join_name(name, *pname ? pname : "empty-name");
    char *value = conv_visit(c, w, pschema, vname, pp);
    free(pp);
    if (!value) {
        free(vname);
        return -1;
    }
    struct buf b;
    buf_init(&b, 0);
    json_t *js = json_string(pname);
    char *key = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    if (!key) {
        free(vname);
        free(value);
        buf_free(&b);
        return conv_fail(c, ERR_BAD_REQUEST, "a property name at %s is not valid UTF-8", path);
    }
    conv_literal(&b, key, strlen(key));
    free(key);
    buf_printf(&b, " %sspace \":\" %sspace %s", c->prefix, c->prefix, value);
    char *kvname = conv_join_name(vname, "kv");
    char *kv = conv_add_rule(c, kvname, b.data);
    free(kvname);
    free(vname);
    free(value);
    buf_free(&b);
    if (!kv)
        return -1;
    *props = xrealloc(*props, (*n + 1) * sizeof **props);
    (*props)[*n] = (struct prop){pname, kv, required};
    (*n)++;
    return 0;
}

static int get_required(struct conv *c, json_t *s, const char *path, json_t **out)
{
    json_t *req = json_object_get(s, "required");
    *out = NULL;
    if (!req)
        return 0;
    size_t i;
    json_t *v;
    if (!json_is_array(req))
        return conv_fail(c, ERR_BAD_REQUEST, "required at %s must be an array of names", path);
    json_array_foreach(req, i, v) if (!json_is_string(v)) return conv_fail(
        c, ERR_BAD_REQUEST, "required at %s must be an array of names", path);
    *out = req;
    return 0;
}

static int is_required(json_t *req, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v) if (!strcmp(json_string_value(v), name)) return 1;
    return 0;
}

char *conv_visit_object(struct conv *c, struct walk *w, json_t *s, const char *name,
                        const char *rule_name, const char *path, uint32_t *used)
{
    *used |= BIT(KW_PROPERTIES) | BIT(KW_REQUIRED) | BIT(KW_ADDITIONAL);
    json_t *properties = json_object_get(s, "properties"), *req;
    json_t *additional = json_object_get(s, "additionalProperties");
    if (properties && !json_is_object(properties)) {
        conv_fail(c, ERR_BAD_REQUEST, "properties at %s must be an object", path);
        return NULL;
    }
    if (additional && !json_is_boolean(additional) && !json_is_object(additional)) {
        conv_fail(c, ERR_BAD_REQUEST, "additionalProperties at %s must be a boolean or a schema",
                  path);
        return NULL;
    }
    if (get_required(c, s, path, &req))
        return NULL;
    /* llama.cpp's convention: listed properties close the object unless additionalProperties
     * opens it; {"type": "object"} alone is any object. */
    int any_extra =
        additional ? json_is_true(additional) || !json_object_size(additional) : !properties;
    int extra = additional ? !json_is_false(additional) : !properties;
    if (!json_object_size(properties) && extra && any_extra) {
        if (req && json_array_size(req)) {
            conv_fail(c, ERR_BAD_REQUEST, "required at %s names properties that are not defined",
                      path);
            return NULL;
        }
        char *p = conv_prim(c, "object");
        char *r = p ? conv_add_rule(c, rule_name, p) : NULL;
        free(p);
        return r;
    }
    struct prop *props = NULL;
    size_t n = 0;
    const char *pname;
    json_t *pschema;
    json_object_foreach(properties, pname, pschema)
    {
        if (add_prop(c, w, &props, &n, pname, pschema, is_required(req, pname), name, path)) {
            props_free(props, n);
            return NULL;
        }
    }
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v)
    {
        if (!json_object_get(properties, json_string_value(v))) {
            props_free(props, n);
            conv_fail(c, ERR_BAD_REQUEST,
                      "required names '%.64s' at %s, which properties does not define",
                      json_string_value(v), path);
            return NULL;
        }
    }
    char *extra_kv = NULL;
    if (extra) {
        char *sub = conv_join_name(name, "additional");
        char *value;
        if (any_extra) {
            value = conv_prim(c, "value");
        } else {
            char *vname = conv_join_name(sub, "value");
            char *apath = conv_sub_path(path, "additionalProperties");
            value = conv_visit(c, w, additional, vname, apath);
            free(vname);
            free(apath);
        }
        char *key = NULL;
        if (value && !n) {
            key = conv_prim(c, "string");
        } else if (value) {
            char *body = not_strings(c, props, n, path);
            char *kname = conv_join_name(sub, "k");
            key = body ? conv_add_rule(c, kname, body) : NULL;
            free(kname);
            free(body);
        }
        if (key) {
            struct buf b;
            buf_init(&b, 0);
            buf_printf(&b, "%s \":\" %sspace %s", key, c->prefix, value);
            char *kvname = conv_join_name(sub, "kv");
            extra_kv = conv_add_rule(c, kvname, b.data);
            free(kvname);
            buf_free(&b);
        }
        free(key);
        free(value);
        free(sub);
        if (!extra_kv) {
            props_free(props, n);
            return NULL;
        }
    }
    char *body = object_body(c, props, n, extra_kv, name);
    char *r = body ? conv_add_rule(c, rule_name, body) : NULL;
    free(body);
    free(extra_kv);
    props_free(props, n);
    return r;
}

char *conv_visit_array(struct conv *c, struct walk *w, json_t *s, const char *name,
                       const char *rule_name, const char *path, uint32_t *used)
{
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    *used |= BIT(KW_ITEMS) | BIT(KW_PREFIX_ITEMS);
    if (prefix && !items && (json_is_object(prefix) || json_is_boolean(prefix))) {
        items = prefix; /* llama.cpp reads a schema in prefixItems as the item schema */
        prefix = NULL;
    }
    json_t *tuple = json_is_array(prefix) ? prefix : json_is_array(items) ? items : NULL;
    if (prefix && !json_is_array(prefix)) {
        conv_fail(c, ERR_BAD_REQUEST, "prefixItems at %s must be an array of schemas", path);
        return NULL;
    }
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "\"[\" %sspace ", c->prefix);
    if (tuple) {
        /* A tuple: exactly these items (llama.cpp's reading of prefixItems), or these and then
         * any number of `items` when items is a schema beside prefixItems. */
        const char *key = tuple == prefix ? "prefixItems" : "items";
        size_t i;
        json_t *it;
        json_array_foreach(tuple, i, it)
        {
            char tn[32];
            snprintf(tn, sizeof tn, "tuple-%zu", i);
            char *iname = conv_join_name(name, tn);
            char *ipath = conv_sub_path_i(path, key, i);
            char *r = conv_visit(c, w, it, iname, ipath);
            free(iname);
            free(ipath);
            if (!r)
                break;
            if (i)
                buf_printf(&b, " \",\" %sspace ", c->prefix);
            buf_puts(&b, r);
            free(r);
        }
        if (!c->failed && tuple == prefix && items && !json_is_false(items)) {
            char *iname = conv_join_name(name, "item");
            char *ipath = conv_sub_path(path, "items");
            char *r = conv_visit(c, w, items, iname, ipath);
            if (r)
                buf_printf(&b, " ( \",\" %sspace %s )*", c->prefix, r);
            free(r);
            free(iname);
            free(ipath);
        }
    } else {
        int64_t min = 0, max = -1;
        *used |= BIT(KW_MIN_ITEMS) | BIT(KW_MAX_ITEMS);
        if (!conv_get_count(c, s, "minItems", path, &min) &&
            !conv_get_count(c, s, "maxItems", path, &max) && max >= 0 && min > max)
            conv_fail(c, ERR_BAD_REQUEST, "minItems is above maxItems at %s", path);
        if (c->failed) {
            buf_free(&b);
            return NULL;
        }
        if ((!items || json_is_true(items) || !json_object_size(items)) && min == 0 && max < 0) {
            buf_free(&b);
            if (items && !json_is_boolean(items) && !json_is_object(items)) {
                conv_fail(c, ERR_BAD_REQUEST, "items at %s must be a schema", path);
                return NULL;
            }
            return conv_prim_as(c, !strcmp(rule_name, "root") ? "root" : "array", "array");
        }
        char *iname = conv_join_name(name, "item");
        char *ipath = conv_sub_path(path, "items");
        char *r = items ? conv_visit(c, w, items, iname, ipath) : conv_prim(c, "value");
        free(iname);
        free(ipath);
        if (r) {
            char sep[64];
            snprintf(sep, sizeof sep, "\",\" %sspace", c->prefix);
            conv_repetition(&b, r, min, max, sep);
        }
        free(r);
    }
    buf_printf(&b, " %sspace \"]\"", c->prefix);
    char *r = c->failed ? NULL : conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    return r;
}

/* Follows $ref from s (a schema whose only keyword is $ref) to its target; NULL after
 * conv_fail. */
static json_t *follow_refs(struct conv *c, struct walk *w, json_t *s, const char *path)
{
    for (int hops = 0; json_is_object(s) && json_object_get(s, "$ref"); hops++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        json_t *t = ref && hops < SCHEMA_MAX_DEPTH ? conv_resolve_pointer(w->root, ref) : NULL;
        if (conv_check_keys(c, s, BIT(KW_REF), path))
            return NULL;
        if (!t) {
            conv_fail(c, ERR_BAD_REQUEST, "$ref at %s cannot be resolved", path);
            return NULL;
        }
        s = t;
    }
    return s;
}

/* allOf: the properties of every part (llama.cpp's reading), or the values every enum part
 * shares. */
char *conv_visit_all_of(struct conv *c, struct walk *w, json_t *s, const char *name,
                        const char *rule_name, const char *path)
{
    json_t *parts = json_object_get(s, "allOf");
    char *apath = conv_sub_path(path, "allOf");
    if (!json_is_array(parts) || !json_array_size(parts)) {
        conv_fail(c, ERR_BAD_REQUEST, "allOf at %s must be a non-empty array of schemas", path);
        free(apath);
        return NULL;
    }
    struct prop *props = NULL;
    size_t n = 0, n_enum = 0, i;
    json_t *part, *enum_first = NULL, *resolved = json_array();
    json_array_foreach(parts, i, part)
    {
        char *ppath = conv_sub_path_i(path, "allOf", i);
        part = follow_refs(c, w, part, ppath);
        if (part)
            json_array_append(resolved, part);
        if (!c->failed && !json_is_object(part))
            conv_fail(c, ERR_BAD_REQUEST, "allOf at %s holds something that is not a schema",
                      apath);
        json_t *alts = json_object_get(part, "anyOf");
        if (c->failed) {
        } else if (json_object_get(part, "enum")) {
            n_enum++;
            if (!enum_first)
                enum_first = json_object_get(part, "enum");
            conv_check_keys(c, part, BIT(KW_ENUM) | BIT(KW_TYPE), ppath);
        } else if (json_is_array(alts)) {
            /* a choice among objects: each one's properties become optional */
            size_t k;
            json_t *alt;
            conv_check_keys(c, part, BIT(KW_ANY_OF), ppath);
            json_array_foreach(alts, k, alt)
            {
                char *kpath = conv_sub_path_i(ppath, "anyOf", k);
                alt = follow_refs(c, w, alt, kpath);
                json_t *props_k = json_object_get(alt, "properties");
                const char *pn;
                json_t *ps;
                if (c->failed || !json_is_object(props_k) ||
                    conv_check_keys(c, alt, BIT(KW_TYPE) | BIT(KW_PROPERTIES) | BIT(KW_REQUIRED),
                                    kpath))
                    conv_fail(c, ERR_BAD_REQUEST,
                              "allOf at %s: only objects with properties are supported in anyOf",
                              kpath);
                json_object_foreach(props_k, pn, ps)
                {
                    if (c->failed || add_prop(c, w, &props, &n, pn, ps, 0, name, kpath))
                        break;
                }
                free(kpath);
                if (c->failed)
                    break;
            }
        } else if (json_is_object(json_object_get(part, "properties"))) {
            json_t *req;
            const char *pn;
            json_t *ps;
            uint32_t ok = BIT(KW_TYPE) | BIT(KW_PROPERTIES) | BIT(KW_REQUIRED);
            if (json_is_false(json_object_get(part, "additionalProperties")))
                ok |= BIT(KW_ADDITIONAL);
            if (!conv_check_keys(c, part, ok, ppath) && !get_required(c, part, ppath, &req)) {
                json_object_foreach(json_object_get(part, "properties"), pn, ps)
                {
                    if (add_prop(c, w, &props, &n, pn, ps, is_required(req, pn), name, ppath))
                        break;
                }
            }
        } else {
            conv_fail(c, ERR_BAD_REQUEST,
                      "allOf at %s: only objects with properties, choices among them and enums "
                      "can be combined",
                      ppath);
        }
        free(ppath);
        if (c->failed)
            break;
    }
    char *r = NULL;
    if (!c->failed && n_enum && n_enum != json_array_size(parts)) {
        conv_fail(c, ERR_BAD_REQUEST, "allOf at %s mixes enums with objects", apath);
    } else if (!c->failed && n_enum) {
        struct buf b;
        buf_init(&b, 0);
        json_t *v;
        size_t k, shared = 0;
        json_array_foreach(enum_first, k, v)
        {
            int everywhere = 1;
            json_array_foreach(resolved, i, part)
            {
                json_t *vals = json_object_get(part, "enum");
                size_t m;
                json_t *x;
                int found = 0;
                json_array_foreach(vals, m, x) found |= json_equal(x, v);
                everywhere &= found;
            }
            if (everywhere) {
                buf_puts(&b, shared++ ? " | " : "(");
                conv_const_literal(c, &b, v, apath);
            }
        }
        if (!shared)
            conv_fail(c, ERR_BAD_REQUEST, "the enums of allOf at %s share no value", path);
        else {
            buf_puts(&b, ")");
            r = conv_add_rule(c, rule_name, b.data);
        }
        buf_free(&b);
    } else if (!c->failed) {
        char *body = object_body(c, props, n, NULL, name);
        r = body ? conv_add_rule(c, rule_name, body) : NULL;
        free(body);
    }
    props_free(props, n);
    free(apath);
    json_decref(resolved);
    return r;
}
