/* http.h - pure HTTP parsing helpers, testable without FastCGI:
 * application/x-www-form-urlencoded bodies and query strings (with caps),
 * the Cookie header, header parameters (Content-Type boundary,
 * Content-Disposition name/filename), HTTP Basic credentials, HTML escaping.
 *
 * Nothing here allocates behind the caller's back except struct cs_form, whose
 * memory is released by cs_form_release(). All functions are thread-safe
 * (they touch only their arguments). The streaming multipart parser is in
 * multipart.h. */
#ifndef CROWDSKY_HTTP_H
#define CROWDSKY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "str.h"

/* One decoded name=value pair. Both are NUL-terminated heap strings owned by
 * the form; value may contain NUL bytes (value_len is authoritative). */
struct cs_form_field {
        char *name;
        char *value;
        size_t value_len;
};

/* An ordered list of decoded fields (query string, urlencoded body, or the
 * small fields of a multipart body). Caps bound what input can make us keep. */
struct cs_form {
        struct cs_form_field *fields;
        size_t n, alloc;
        size_t bytes;      /* decoded bytes kept so far (names + values) */
        size_t max_fields; /* default 64 */
        size_t max_bytes;  /* default 64 KiB */
};

#define CS_FORM_MAX_FIELDS 64
#define CS_FORM_MAX_BYTES (64u * 1024u)
#define CS_FORM_INIT { NULL, 0, 0, 0, CS_FORM_MAX_FIELDS, CS_FORM_MAX_BYTES }

void cs_form_init(struct cs_form *f, size_t max_fields, size_t max_bytes);
void cs_form_release(struct cs_form *f); /* frees all fields; f can be reused */

/* Parses `a=1&b=x%20y` (also ';'-free, '+' = space) and appends the fields.
 * Empty pairs are skipped; a pair without '=' has an empty value. Bad
 * percent-escapes -> CS_EINVAL; more than max_fields or max_bytes ->
 * CS_ETOOBIG. On error the fields appended so far stay (release the form). */
int cs_form_parse(struct cs_form *f, const char *s, size_t len, struct cs_err *err);
/* Appends one field (copies). CS_ETOOBIG past the caps. */
int cs_form_add(struct cs_form *f, const char *name, size_t name_len, const char *value,
                size_t value_len, struct cs_err *err);
/* First value of name, or NULL (borrowed from the form). */
const char *cs_form_get(const struct cs_form *f, const char *name);
/* Like cs_form_get, but also NULL when the value contains a NUL byte. */
const char *cs_form_get_text(const struct cs_form *f, const char *name);

/* Percent-decodes s ('+' -> ' ' when plus_space) and appends to out.
 * CS_EINVAL on a bad escape, CS_ETOOBIG past out's cap. */
int cs_url_decode(struct cs_str s, bool plus_space, struct cs_buf *out);
/* Percent-encodes s for a query value (unreserved characters kept). */
int cs_url_encode(struct cs_str s, struct cs_buf *out);

/* Finds cookie `name` in a Cookie header value ("a=1; b=2"). Returns true
 * and sets *ret_value (a slice into header, quotes removed) if present. The
 * first occurrence wins. */
bool cs_cookie_find(const char *header, const char *name, struct cs_str *ret_value);

/* Finds parameter `name` in a header value such as
 * `multipart/form-data; boundary="abc"` or `form-data; name="f"; filename="a.fit"`.
 * Parameter names compare case-insensitively; quoted values are unescaped
 * (backslash escapes). Writes the NUL-terminated value to out (size outsz).
 * Returns CS_OK, CS_ENOTFOUND, CS_EINVAL (malformed) or CS_ETOOBIG (too long). */
int cs_header_param(struct cs_str header, const char *name, char *out, size_t outsz);
/* The media type of a header value (`text/html; charset=x` -> `text/html`),
 * trimmed; compare it with cs_str_eq_nocase. */
struct cs_str cs_header_media_type(struct cs_str header);

/* Decodes an `Authorization: Basic base64(user:secret)` header value into
 * user and secret (NUL-terminated; the secret may contain ':'). CS_EINVAL if
 * the scheme is not Basic, the base64 is bad or there is no ':';
 * CS_ETOOBIG if a part does not fit. */
int cs_http_basic_parse(const char *header, char *user, size_t usersz, char *secret,
                        size_t secretsz);
/* The token of an `Authorization: Bearer TOKEN` header, or false. */
bool cs_http_bearer_parse(const char *header, struct cs_str *ret_token);

/* Standard base64 (RFC 4648, with padding) of n bytes, appended to out. */
int cs_base64_encode(const void *in, size_t n, struct cs_buf *out);
/* Decodes standard base64 (padding optional, no whitespace) into out (size
 * outsz); *ret_len = bytes written. CS_EINVAL or CS_ETOOBIG. */
int cs_base64_decode(struct cs_str in, unsigned char *out, size_t outsz, size_t *ret_len);

/* Appends s with & < > " ' escaped for HTML text and attribute values. */
int cs_html_escape(struct cs_buf *out, const char *s, size_t n);

/* True if s is valid UTF-8 (no overlong forms, no surrogates) without control
 * characters: safe for a utf8mb4 column, JSON and log lines. Check every
 * user-supplied text before it reaches the database. */
bool cs_text_ok(const char *s);

/* Reason phrase of an HTTP status code ("Not Found"); "Unknown" if none. */
const char *cs_http_reason(int code);

#endif
