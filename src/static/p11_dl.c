/* p11-kit for the static build (HEARTH_STATIC): loaded with dlopen when first used.
 *
 * libmicrohttpd's TLS comes from GnuTLS, whose static archive calls p11-kit (PKCS#11 tokens),
 * and Debian has no static p11-kit. hearth's TLS reads its certificate and key from PEM files
 * and never asks for a token, so these functions are only linked, not called in practice;
 * each forwards to libp11-kit.so.0 where the machine has it (every Debian with GnuTLS), and
 * otherwise fails as p11-kit fails when no module is configured.
 */
#include <p11-kit/p11-kit.h>
#include <p11-kit/pin.h>
#include <p11-kit/uri.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "static/forward.h"

static void *lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_load(void)
{
    lib = dlopen("libp11-kit.so.0", RTLD_NOW | RTLD_LOCAL);
}

static void *sym(const char *name)
{
    pthread_once(&lib_once, lib_load);
    return lib ? dlsym(lib, name) : NULL;
}

#define NO_URI P11_KIT_URI_UNEXPECTED

FORWARD(sym, CK_FUNCTION_LIST **, p11_kit_modules_load, (const char *reserved, int flags),
        (reserved, flags), NULL)
FORWARD(sym, CK_FUNCTION_LIST *, p11_kit_module_load, (const char *path, int flags), (path, flags),
        NULL)
FORWARD(sym, char *, p11_kit_module_get_name, (CK_FUNCTION_LIST * m), (m), NULL)
FORWARD(sym, int, p11_kit_module_get_flags, (CK_FUNCTION_LIST * m), (m), 0)
FORWARD(sym, CK_RV, p11_kit_module_finalize, (CK_FUNCTION_LIST * m), (m), CKR_GENERAL_ERROR)
FORWARD_VOID(sym, p11_kit_module_release, (CK_FUNCTION_LIST * m), (m))
FORWARD(sym, char *, p11_kit_config_option, (CK_FUNCTION_LIST * m, const char *option), (m, option),
        NULL)
FORWARD(sym, const char *, p11_kit_strerror, (CK_RV rv), (rv), "PKCS#11 is not available")
FORWARD(sym, const char *, p11_kit_message, (void), (), NULL)
FORWARD(sym, size_t, p11_kit_space_strlen, (const unsigned char *s, size_t max), (s, max), 0)
FORWARD(sym, char *, p11_kit_space_strdup, (const unsigned char *s, size_t max), (s, max), NULL)
FORWARD(sym, P11KitPin *, p11_kit_pin_new_for_string, (const char *value), (value), NULL)
FORWARD_VOID(sym, p11_kit_pin_unref, (P11KitPin * pin), (pin))
FORWARD(sym, const unsigned char *, p11_kit_pin_get_value, (P11KitPin * pin, size_t *length),
        (pin, length), NULL)
FORWARD(sym, size_t, p11_kit_pin_get_length, (P11KitPin * pin), (pin), 0)
FORWARD(sym, int, p11_kit_pin_register_callback,
        (const char *source, p11_kit_pin_callback cb, void *data, p11_kit_pin_destroy_func d),
        (source, cb, data, d), -1)
FORWARD_VOID(sym, p11_kit_pin_unregister_callback,
             (const char *source, p11_kit_pin_callback cb, void *data), (source, cb, data))
FORWARD(sym, P11KitPin *, p11_kit_pin_request,
        (const char *source, P11KitUri *uri, const char *desc, P11KitPinFlags flags),
        (source, uri, desc, flags), NULL)
FORWARD(sym, P11KitPin *, p11_kit_pin_file_callback,
        (const char *source, P11KitUri *uri, const char *desc, P11KitPinFlags flags, void *data),
        (source, uri, desc, flags, data), NULL)
FORWARD(sym, P11KitUri *, p11_kit_uri_new, (void), (), NULL)
FORWARD_VOID(sym, p11_kit_uri_free, (P11KitUri * uri), (uri))
FORWARD(sym, int, p11_kit_uri_parse, (const char *s, P11KitUriType type, P11KitUri *uri),
        (s, type, uri), NO_URI)
FORWARD(sym, int, p11_kit_uri_format, (P11KitUri * uri, P11KitUriType type, char **s),
        (uri, type, s), NO_URI)
FORWARD(sym, CK_INFO_PTR, p11_kit_uri_get_module_info, (P11KitUri * uri), (uri), NULL)
FORWARD(sym, CK_TOKEN_INFO_PTR, p11_kit_uri_get_token_info, (P11KitUri * uri), (uri), NULL)
FORWARD(sym, int, p11_kit_uri_match_module_info, (const P11KitUri *uri, const CK_INFO *info),
        (uri, info), 0)
FORWARD(sym, int, p11_kit_uri_match_token_info, (const P11KitUri *uri, const CK_TOKEN_INFO *info),
        (uri, info), 0)
FORWARD(sym, CK_ATTRIBUTE_PTR, p11_kit_uri_get_attribute, (P11KitUri * uri, CK_ATTRIBUTE_TYPE type),
        (uri, type), NULL)
FORWARD(sym, int, p11_kit_uri_set_attribute, (P11KitUri * uri, CK_ATTRIBUTE_PTR attr), (uri, attr),
        NO_URI)
FORWARD(sym, CK_ATTRIBUTE_PTR, p11_kit_uri_get_attributes, (P11KitUri * uri, CK_ULONG *n), (uri, n),
        NULL)
FORWARD(sym, const char *, p11_kit_uri_get_pin_value, (const P11KitUri *uri), (uri), NULL)
FORWARD(sym, const char *, p11_kit_uri_get_pin_source, (const P11KitUri *uri), (uri), NULL)
