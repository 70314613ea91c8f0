/* Functions of a shared library the static build loads with dlopen when first used
 * (curl_dl.c, p11_dl.c): FORWARD defines a function of the library's name and prototype that
 * looks the real one up once (through LOOKUP, the file's dlsym over its library) and calls
 * it, or returns fail when the library or the function is missing. */
#ifndef HEARTH_STATIC_FORWARD_H
#define HEARTH_STATIC_FORWARD_H

/* params is a parameter list and ret a type: neither can stand in parentheses. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define FORWARD(LOOKUP, ret, name, params, args, fail)                                             \
    ret name params                                                                                \
    {                                                                                              \
        static ret(*fn) params;                                                                    \
        ret(*f) params = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);                                   \
        if (!f) {                                                                                  \
            f = (ret(*) params)LOOKUP(#name);                                                      \
            __atomic_store_n(&fn, f, __ATOMIC_RELEASE);                                            \
        }                                                                                          \
        return f ? f args : (fail);                                                                \
    }

#define FORWARD_VOID(LOOKUP, name, params, args)                                                   \
    void name params                                                                               \
    {                                                                                              \
        static void(*fn) params;                                                                   \
        void(*f) params = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);                                  \
        if (!f) {                                                                                  \
            f = (void(*) params)LOOKUP(#name);                                                     \
            __atomic_store_n(&fn, f, __ATOMIC_RELEASE);                                            \
        }                                                                                          \
        if (f)                                                                                     \
            f args;                                                                                \
    }
/* NOLINTEND(bugprone-macro-parentheses) */

#endif
