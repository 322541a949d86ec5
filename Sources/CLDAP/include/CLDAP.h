// The system OpenLDAP client library (libldap), loaded at run time with dlopen.
//
// Only the runtime library is needed (Debian: libldap-2.5-0, preinstalled with libldap-common);
// libldap-dev's headers are not: the few constants and prototypes used here are declared in
// CLDAP.c, copied from OpenLDAP 2.5's ldap.h and lber.h. Nothing here is called on an event
// loop: every call that may block runs on LinkgateLDAP's bounded thread pool.
//
// One connection handle must not be used by two threads at once (libldap 2.5 is otherwise
// thread-safe). Functions return libldap result codes (LDAP_SUCCESS = 0; the negative codes
// are client-side: server down, timeout, connect error...), see cldap_err2string.
#ifndef LINKGATE_CLDAP_H
#define LINKGATE_CLDAP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Opaque libldap types: LDAP and LDAPMessage.
typedef struct cldap_ld cldap_ld;
typedef struct cldap_message cldap_message;
// struct berval ** returned by ldap_get_values_len.
typedef struct cldap_values cldap_values;

// Result codes this project tells apart (ldap.h, RFC 4511 §4.1.9 and the client-side ones).
enum {
    CLDAP_SUCCESS = 0x00,
    CLDAP_OPERATIONS_ERROR = 0x01,
    CLDAP_PROTOCOL_ERROR = 0x02,
    CLDAP_TIMELIMIT_EXCEEDED = 0x03,
    CLDAP_SIZELIMIT_EXCEEDED = 0x04,
    CLDAP_STRONG_AUTH_REQUIRED = 0x08,
    CLDAP_ADMINLIMIT_EXCEEDED = 0x0b,
    CLDAP_CONFIDENTIALITY_REQUIRED = 0x0d,
    CLDAP_NO_SUCH_OBJECT = 0x20,
    CLDAP_INVALID_DN_SYNTAX = 0x22,
    CLDAP_INAPPROPRIATE_AUTH = 0x30,
    CLDAP_INVALID_CREDENTIALS = 0x31,
    CLDAP_INSUFFICIENT_ACCESS = 0x32,
    CLDAP_BUSY = 0x33,
    CLDAP_UNAVAILABLE = 0x34,
    CLDAP_UNWILLING_TO_PERFORM = 0x35,
    CLDAP_OTHER = 0x50,
    CLDAP_SERVER_DOWN = -1,
    CLDAP_LOCAL_ERROR = -2,
    CLDAP_ENCODING_ERROR = -3,
    CLDAP_DECODING_ERROR = -4,
    CLDAP_TIMEOUT = -5,
    CLDAP_AUTH_UNKNOWN = -6,
    CLDAP_FILTER_ERROR = -7,
    CLDAP_USER_CANCELLED = -8,
    CLDAP_PARAM_ERROR = -9,
    CLDAP_NO_MEMORY = -10,
    CLDAP_CONNECT_ERROR = -11,
    CLDAP_NOT_SUPPORTED = -12,
    CLDAP_NO_RESULTS_RETURNED = -14,
};

// Search scopes (ldap.h LDAP_SCOPE_BASE, LDAP_SCOPE_SUBTREE).
enum { CLDAP_SCOPE_BASE = 0, CLDAP_SCOPE_SUBTREE = 2 };

// Loads libldap once (libldap-2.5.so.0, else libldap.so.2, else libldap_r-2.4.so.2) and
// resolves every function used here. Returns 1 when usable; otherwise 0, and
// cldap_load_error() says why. Safe to call from any thread, any number of times.
// Also sets SIGPIPE to "ignore" when it is at its default: libldap writes to its sockets with
// write(2), and a directory that closed a reused connection must not kill the process.
int cldap_load(void);
const char *cldap_load_error(void);

// ldap_initialize: parses the URL (ldap:// or ldaps://), does not connect yet.
int cldap_initialize(cldap_ld **ld, const char *url);

// Sets LDAPv3, no referral chasing, the connect (network) timeout and the timeout of synchronous
// operations. With use_tls (ldaps:// or StartTLS), also the TLS settings: a demanded, verified
// server certificate, against ca_file (NULL: the library's default, the system store), in the
// handle's own new TLS context.
int cldap_configure(cldap_ld *ld, int connect_timeout_ms, int operation_timeout_ms, int use_tls, const char *ca_file);

// ldap_start_tls_s (RFC 4511 §4.14).
int cldap_start_tls(cldap_ld *ld);

// Simple bind (RFC 4513 §5.1) through ldap_sasl_bind_s with LDAP_SASL_SIMPLE. Refuses an empty
// password for a non-empty DN with CLDAP_PARAM_ERROR, without contacting the server: that would
// be an "unauthenticated bind" (RFC 4513 §5.1.2), which succeeds without proving anything.
int cldap_simple_bind(cldap_ld *ld, const char *dn, const char *password, size_t password_length);

// ldap_search_ext_s: attrs is a NULL-terminated list; timeout_ms and size_limit go to the server
// and bound the wait here. *result must be freed with cldap_msgfree even when an error is
// returned (it may hold partial results, e.g. with CLDAP_SIZELIMIT_EXCEEDED).
int cldap_search(cldap_ld *ld, const char *base, int scope, const char *filter, const char *const *attrs,
                 int size_limit, int timeout_ms, cldap_message **result);

// Entries of a search result (search references are skipped); NULL after the last.
cldap_message *cldap_first_entry(cldap_ld *ld, cldap_message *result);
cldap_message *cldap_next_entry(cldap_ld *ld, cldap_message *entry);
int cldap_count_entries(cldap_ld *ld, cldap_message *result);

// The entry's DN; free with cldap_memfree.
char *cldap_get_dn(cldap_ld *ld, cldap_message *entry);

// An attribute's values (NULL when absent); free with cldap_values_free.
cldap_values *cldap_get_values(cldap_ld *ld, cldap_message *entry, const char *attribute);
int cldap_values_count(const cldap_values *values);
// The bytes of value `index` (not NUL-terminated) and their length.
const char *cldap_value_at(const cldap_values *values, int index, size_t *length);
void cldap_values_free(cldap_values *values);

void cldap_msgfree(cldap_message *message);
void cldap_memfree(void *pointer);

// The server's or library's diagnostic message of the last operation on ld ("" when none); free
// with cldap_memfree.
char *cldap_diagnostic(cldap_ld *ld);

// A watchdog for blocking calls that libldap does not bound itself: the TLS handshake of an
// ldaps:// connection reads without a timeout (libldap 2.5), so a server that accepts TCP but
// never answers would block forever. cldap_guard_attach registers connection callbacks that
// remember the handle's socket; cldap_guard_interrupt (from any thread) shuts that socket down,
// which makes the blocked call fail (CLDAP_SERVER_DOWN / CLDAP_CONNECT_ERROR). The socket is
// forgotten under the guard's lock before libldap closes it. Free the guard after cldap_unbind.
typedef struct cldap_guard cldap_guard;
cldap_guard *cldap_guard_attach(cldap_ld *ld);
void cldap_guard_interrupt(cldap_guard *guard);
void cldap_guard_free(cldap_guard *guard);

// ldap_unbind_ext_s: closes the connection and frees the handle.
int cldap_unbind(cldap_ld *ld);

// A static description of a result code.
const char *cldap_err2string(int code);

#ifdef __cplusplus
}
#endif

#endif
