/* The web UI's files, served from the table the build embedded (see web.h). */
#include "web/web.h"

#include "base/util.h"

#include <string.h>
#include <strings.h>

const struct web_asset *web_find(const char *path)
{
    for (int i = 0; i < web_n_assets; i++)
        if (!strcmp(web_assets[i].path, path))
            return &web_assets[i];
    return NULL;
}

bool web_wants_html(const struct http_request *req)
{
    const char *accept = http_header(req, "Accept");
    return accept && strcasestr(accept, "text/html") != NULL;
}

/* Whether an If-None-Match list names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (*p == '*' || (!strncmp(p, etag, el) && (p[el] == '\0' || p[el] == ',' || p[el] == ' ')))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

static void serve_asset(const struct http_request *req, struct http_reply *rep,
                        const struct web_asset *a)
{
    http_reply_header(rep, "Content-Security-Policy", WEB_CSP);
    http_reply_header(rep, "X-Content-Type-Options", "nosniff");
    http_reply_header(rep, "Referrer-Policy", "no-referrer");
    http_reply_header(rep, "Cache-Control", "no-cache");
    http_reply_header(rep, "ETag", a->etag);
    http_reply_header(rep, "X-Frame-Options", "DENY");
    buf_reset(&rep->body);
    if (etag_matches(http_header(req, "If-None-Match"), a->etag)) {
        rep->status = 304;
        rep->content_type = NULL;
        return;
    }
    rep->status = 200;
    rep->content_type = a->content_type;
    if (buf_append(&rep->body, (const char *)a->data, a->len))
        http_reply_json(rep, 500, "{\"error\":\"out of memory\"}");
}

void web_index(const struct http_request *req, struct http_reply *rep)
{
    const struct web_asset *a = web_find("/ui/index.html");
    if (!a) {
        http_reply_json(rep, 404, "{\"error\":\"this build has no web UI\"}");
        return;
    }
    serve_asset(req, rep, a);
    /* GET / answers browsers with this page and other clients with text. */
    http_reply_header(rep, "Vary", "Accept");
}

static void handle_asset(const struct http_request *req, struct http_reply *rep)
{
    const struct web_asset *a = web_find(req->path);
    if (!a) {
        http_reply_json(rep, 404, "{\"error\":\"no such file in the web UI\"}");
        return;
    }
    serve_asset(req, rep, a);
}

static const struct http_route routes[] = {
    {"GET", "/ui/*", handle_asset},
};

void web_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
