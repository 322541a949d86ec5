// See include/CLDAP.h. Constants and prototypes below are those of OpenLDAP 2.5's ldap.h and
// lber.h (libldap-dev 2.5.13); their values are part of libldap's ABI and have not changed
// since OpenLDAP 2.4.
#include "CLDAP.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

// lber_types.h: ber_len_t is unsigned long; lber.h: struct berval.
typedef unsigned long ber_len_t;
struct berval {
    ber_len_t bv_len;
    char *bv_val;
};

// ldap.h option numbers.
#define LDAP_OPT_SUCCESS 0
#define LDAP_OPT_REFERRALS 0x0008
#define LDAP_OPT_PROTOCOL_VERSION 0x0011
#define LDAP_OPT_DIAGNOSTIC_MESSAGE 0x0032
#define LDAP_OPT_TIMEOUT 0x5002
#define LDAP_OPT_CONNECT_CB 0x5011
#define LBER_SB_OPT_GET_FD 1
#define LDAP_OPT_NETWORK_TIMEOUT 0x5005
#define LDAP_OPT_X_TLS_CACERTFILE 0x6002
#define LDAP_OPT_X_TLS_REQUIRE_CERT 0x6006
#define LDAP_OPT_X_TLS_NEWCTX 0x600f
#define LDAP_OPT_X_TLS_DEMAND 2
#define LDAP_OPT_OFF ((void *)0)
#define LDAP_VERSION3 3
#define LDAP_SASL_SIMPLE ((char *)0)

// The libldap functions used, resolved by cldap_load.
static int (*p_ldap_initialize)(void **ldp, const char *url);
static int (*p_ldap_set_option)(void *ld, int option, const void *invalue);
static int (*p_ldap_get_option)(void *ld, int option, void *outvalue);
static int (*p_ldap_start_tls_s)(void *ld, void **serverctrls, void **clientctrls);
static int (*p_ldap_sasl_bind_s)(void *ld, const char *dn, const char *mechanism, struct berval *cred,
                                 void **serverctrls, void **clientctrls, struct berval **servercredp);
static int (*p_ldap_search_ext_s)(void *ld, const char *base, int scope, const char *filter, char **attrs,
                                  int attrsonly, void **serverctrls, void **clientctrls, struct timeval *timeout,
                                  int sizelimit, void **res);
static void *(*p_ldap_first_entry)(void *ld, void *chain);
static void *(*p_ldap_next_entry)(void *ld, void *entry);
static int (*p_ldap_count_entries)(void *ld, void *chain);
static char *(*p_ldap_get_dn)(void *ld, void *entry);
static struct berval **(*p_ldap_get_values_len)(void *ld, void *entry, const char *target);
static void (*p_ldap_value_free_len)(struct berval **vals);
static int (*p_ldap_msgfree)(void *lm);
static void (*p_ldap_memfree)(void *p);
static int (*p_ldap_unbind_ext_s)(void *ld, void **serverctrls, void **clientctrls);
static char *(*p_ldap_err2string)(int err);
static int (*p_ber_sockbuf_ctrl)(void *sb, int opt, void *arg);

// ldap.h struct ldap_conncb: callbacks after a connection is made and before it is closed.
struct ldap_conncb {
    int (*lc_add)(void *ld, void *sb, void *srv, void *addr, struct ldap_conncb *ctx);
    void (*lc_del)(void *ld, void *sb, struct ldap_conncb *ctx);
    void *lc_arg;
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded = 0;
static char load_error[512] = "libldap not loaded";

#define RESOLVE(handle, name)                                                                          \
    do {                                                                                               \
        *(void **)(&p_##name) = dlsym(handle, #name);                                                  \
        if (p_##name == NULL) {                                                                        \
            snprintf(load_error, sizeof load_error, "libldap lacks %s", #name);                        \
            return;                                                                                    \
        }                                                                                              \
    } while (0)

static void load(void) {
    // OpenLDAP 2.5 (Debian 12), 2.6 (libldap.so.2), 2.4's thread-safe libldap_r.
    static const char *const names[] = {"libldap-2.5.so.0", "libldap.so.2", "libldap_r-2.4.so.2"};
    void *handle = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && handle == NULL; i++) {
        handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (handle == NULL) {
        const char *reason = dlerror();
        snprintf(load_error, sizeof load_error,
                 "the OpenLDAP client library is not installed (Debian: libldap-2.5-0): %s",
                 reason ? reason : "dlopen failed");
        return;
    }
    RESOLVE(handle, ldap_initialize);
    RESOLVE(handle, ldap_set_option);
    RESOLVE(handle, ldap_get_option);
    RESOLVE(handle, ldap_start_tls_s);
    RESOLVE(handle, ldap_sasl_bind_s);
    RESOLVE(handle, ldap_search_ext_s);
    RESOLVE(handle, ldap_first_entry);
    RESOLVE(handle, ldap_next_entry);
    RESOLVE(handle, ldap_count_entries);
    RESOLVE(handle, ldap_get_dn);
    RESOLVE(handle, ldap_get_values_len);
    RESOLVE(handle, ldap_value_free_len);
    RESOLVE(handle, ldap_msgfree);
    RESOLVE(handle, ldap_memfree);
    RESOLVE(handle, ldap_unbind_ext_s);
    RESOLVE(handle, ldap_err2string);
    // liblber, a dependency of libldap: dlsym searches the handle's dependencies too.
    RESOLVE(handle, ber_sockbuf_ctrl);

    // A peer that closed the connection must give EPIPE, not kill the process.
    struct sigaction current;
    if (sigaction(SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
    load_error[0] = '\0';
    loaded = 1;
}

int cldap_load(void) {
    pthread_once(&load_once, load);
    return loaded;
}

const char *cldap_load_error(void) {
    cldap_load();
    return load_error;
}

static struct timeval timeval_from_ms(int ms) {
    struct timeval tv;
    if (ms < 1) ms = 1;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

int cldap_initialize(cldap_ld **ld, const char *url) {
    *ld = NULL;
    if (!cldap_load()) return CLDAP_LOCAL_ERROR;
    void *handle = NULL;
    int rc = p_ldap_initialize(&handle, url);
    *ld = (cldap_ld *)handle;
    return rc;
}

int cldap_configure(cldap_ld *ld, int connect_timeout_ms, int operation_timeout_ms, int use_tls, const char *ca_file) {
    int version = LDAP_VERSION3;
    int rc = p_ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    if (rc != LDAP_OPT_SUCCESS) return rc;
    rc = p_ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    if (rc != LDAP_OPT_SUCCESS) return rc;
    // Connect (and TLS handshake) timeout, then the wait for any synchronous operation's result.
    struct timeval connect_timeout = timeval_from_ms(connect_timeout_ms);
    rc = p_ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &connect_timeout);
    if (rc != LDAP_OPT_SUCCESS) return rc;
    struct timeval operation_timeout = timeval_from_ms(operation_timeout_ms);
    rc = p_ldap_set_option(ld, LDAP_OPT_TIMEOUT, &operation_timeout);
    if (rc != LDAP_OPT_SUCCESS || !use_tls) return rc;
    // TLS (ldaps:// and StartTLS): the server's certificate must verify, against ca_file or the
    // library's default store; the settings take effect in the handle's own new TLS context.
    int demand = LDAP_OPT_X_TLS_DEMAND;
    rc = p_ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
    if (rc != LDAP_OPT_SUCCESS) return rc;
    if (ca_file != NULL && ca_file[0] != '\0') {
        rc = p_ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file);
        if (rc != LDAP_OPT_SUCCESS) return rc;
    }
    int is_server = 0;
    return p_ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
}

int cldap_start_tls(cldap_ld *ld) {
    return p_ldap_start_tls_s(ld, NULL, NULL);
}

int cldap_simple_bind(cldap_ld *ld, const char *dn, const char *password, size_t password_length) {
    if (dn != NULL && dn[0] != '\0' && (password == NULL || password_length == 0)) {
        return CLDAP_PARAM_ERROR;
    }
    struct berval credentials;
    credentials.bv_len = (ber_len_t)password_length;
    credentials.bv_val = (char *)(password ? password : "");
    return p_ldap_sasl_bind_s(ld, dn ? dn : "", LDAP_SASL_SIMPLE, &credentials, NULL, NULL, NULL);
}

int cldap_search(cldap_ld *ld, const char *base, int scope, const char *filter, const char *const *attrs,
                 int size_limit, int timeout_ms, cldap_message **result) {
    struct timeval timeout = timeval_from_ms(timeout_ms);
    void *message = NULL;
    int rc = p_ldap_search_ext_s(ld, base, scope, filter, (char **)attrs, 0, NULL, NULL, &timeout, size_limit,
                                 &message);
    *result = (cldap_message *)message;
    return rc;
}

cldap_message *cldap_first_entry(cldap_ld *ld, cldap_message *result) {
    return (cldap_message *)p_ldap_first_entry(ld, result);
}

cldap_message *cldap_next_entry(cldap_ld *ld, cldap_message *entry) {
    return (cldap_message *)p_ldap_next_entry(ld, entry);
}

int cldap_count_entries(cldap_ld *ld, cldap_message *result) {
    return p_ldap_count_entries(ld, result);
}

char *cldap_get_dn(cldap_ld *ld, cldap_message *entry) {
    return p_ldap_get_dn(ld, entry);
}

cldap_values *cldap_get_values(cldap_ld *ld, cldap_message *entry, const char *attribute) {
    return (cldap_values *)p_ldap_get_values_len(ld, entry, attribute);
}

int cldap_values_count(const cldap_values *values) {
    if (values == NULL) return 0;
    struct berval *const *list = (struct berval *const *)values;
    int count = 0;
    while (list[count] != NULL) count++;
    return count;
}

const char *cldap_value_at(const cldap_values *values, int index, size_t *length) {
    struct berval *const *list = (struct berval *const *)values;
    *length = (size_t)list[index]->bv_len;
    return list[index]->bv_val;
}

void cldap_values_free(cldap_values *values) {
    if (values != NULL) p_ldap_value_free_len((struct berval **)values);
}

void cldap_msgfree(cldap_message *message) {
    if (message != NULL) p_ldap_msgfree(message);
}

void cldap_memfree(void *pointer) {
    if (pointer != NULL) p_ldap_memfree(pointer);
}

char *cldap_diagnostic(cldap_ld *ld) {
    char *message = NULL;
    if (p_ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message) != LDAP_OPT_SUCCESS) return NULL;
    return message;
}

struct cldap_guard {
    struct ldap_conncb callbacks;
    pthread_mutex_t lock;
    int fd;
};

static int guard_add(void *ld, void *sb, void *srv, void *addr, struct ldap_conncb *ctx) {
    (void)ld; (void)srv; (void)addr;
    struct cldap_guard *guard = (struct cldap_guard *)ctx->lc_arg;
    int fd = -1;
    if (p_ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) != 1) fd = -1;
    pthread_mutex_lock(&guard->lock);
    guard->fd = fd;
    pthread_mutex_unlock(&guard->lock);
    return 0;
}

static void guard_del(void *ld, void *sb, struct ldap_conncb *ctx) {
    (void)ld; (void)sb;
    struct cldap_guard *guard = (struct cldap_guard *)ctx->lc_arg;
    pthread_mutex_lock(&guard->lock);
    guard->fd = -1;
    pthread_mutex_unlock(&guard->lock);
}

cldap_guard *cldap_guard_attach(cldap_ld *ld) {
    struct cldap_guard *guard = calloc(1, sizeof *guard);
    if (guard == NULL) return NULL;
    guard->callbacks.lc_add = guard_add;
    guard->callbacks.lc_del = guard_del;
    guard->callbacks.lc_arg = guard;
    guard->fd = -1;
    pthread_mutex_init(&guard->lock, NULL);
    // libldap keeps the pointer (not a copy): the guard must outlive the handle.
    if (p_ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &guard->callbacks) != LDAP_OPT_SUCCESS) {
        pthread_mutex_destroy(&guard->lock);
        free(guard);
        return NULL;
    }
    return guard;
}

void cldap_guard_interrupt(cldap_guard *guard) {
    if (guard == NULL) return;
    pthread_mutex_lock(&guard->lock);
    if (guard->fd >= 0) shutdown(guard->fd, SHUT_RDWR);
    pthread_mutex_unlock(&guard->lock);
}

void cldap_guard_free(cldap_guard *guard) {
    if (guard == NULL) return;
    pthread_mutex_destroy(&guard->lock);
    free(guard);
}

int cldap_unbind(cldap_ld *ld) {
    if (ld == NULL) return CLDAP_SUCCESS;
    return p_ldap_unbind_ext_s(ld, NULL, NULL);
}

const char *cldap_err2string(int code) {
    if (!cldap_load()) return "libldap not loaded";
    const char *text = p_ldap_err2string(code);
    return text ? text : "unknown LDAP result";
}
