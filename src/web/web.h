/* The web UI: the HTML, CSS and JavaScript modules in src/web and the npm libraries
 * that src/web/package.json pins, embedded into the binary at build time by src/web/embed.cmake,
 * which writes the table below into the build folder (web_assets.c).
 *
 * The page is served at GET / to browsers (a request whose Accept names text/html; every other
 * client keeps Ollama's plain-text "is running" answer there), its files under /ui/. Every answer
 * carries a strict Content-Security-Policy (scripts and styles from this origin only, no inline
 * script, no eval, no frames, fetch to this origin only), X-Content-Type-Options: nosniff, an
 * ETag (If-None-Match is answered 304) and Cache-Control: no-cache (revalidate each time, so a
 * new binary's files are never stale). Model output is untrusted: the page renders Markdown
 * through DOMPurify, and the CSP stops what might slip through.
 */
#ifndef HEARTH_WEB_WEB_H
#define HEARTH_WEB_WEB_H

#include "net/http.h"

#include <stdbool.h>
#include <stddef.h>

struct web_asset {
    const char *path;         /* "/ui/app.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const char *etag; /* "\"<16 hex digits of the SHA-256>\"" */
};

/* Generated (web_assets.c in the build folder). */
extern const struct web_asset web_assets[];
extern const int web_n_assets;

#define WEB_CSP                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "                  \
    "form-action 'none'; frame-ancestors 'none'"

/* The asset at path, or NULL. */
const struct web_asset *web_find(const char *path);

/* Whether the request comes from a browser that wants a page (its Accept names text/html). */
bool web_wants_html(const struct http_request *req);

/* Answers with the page (index.html), with Vary: Accept (for GET /). */
void web_index(const struct http_request *req, struct http_reply *rep);

/* GET /ui/...: the embedded files. */
void web_routes(const struct http_route **r, int *n);

#endif
