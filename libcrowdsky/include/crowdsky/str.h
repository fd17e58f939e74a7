/* str.h - string slices, a cursor that advances only on success, and checked
 * number parsing (strtol/strtod with end and overflow checks). */
#ifndef CROWDSKY_STR_H
#define CROWDSKY_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cs_str {
        const char *p;
        size_t len;
};

#define CS_STR_LIT(s) ((struct cs_str){ (s), sizeof(s) - 1 })
static inline struct cs_str cs_str_from(const char *s, size_t len) { return (struct cs_str){ s, len }; }
struct cs_str cs_str_c(const char *s); /* from a C string (NULL -> empty) */
bool cs_str_eq(struct cs_str a, const char *lit);
bool cs_str_eq_nocase(struct cs_str a, const char *lit);
bool cs_str_starts(struct cs_str a, const char *prefix);
struct cs_str cs_str_trim(struct cs_str s); /* ASCII spaces and tabs on both ends */
/* Splits at the first occurrence of sep: *ret_head before it, s advanced after it.
 * Returns false (and changes nothing) if sep does not occur. */
bool cs_str_split(struct cs_str *s, char sep, struct cs_str *ret_head);
/* Copies into dst (size dstsz, always NUL-terminated); returns false if truncated. */
bool cs_str_copy(struct cs_str s, char *dst, size_t dstsz);

/* Whole-string number parsing: the slice must contain exactly one number
 * (no leading/trailing garbage, no overflow). Return CS_OK or CS_EINVAL. */
int cs_parse_i64(struct cs_str s, int64_t *ret);
int cs_parse_u64(struct cs_str s, uint64_t *ret);
int cs_parse_f64(struct cs_str s, double *ret); /* finite values only */
/* Same for NUL-terminated strings. */
int cs_parse_i64_c(const char *s, int64_t *ret);
int cs_parse_f64_c(const char *s, double *ret);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void cs_hex(const unsigned char *in, size_t n, char *out);
/* Constant-time comparison of two equal-length byte strings (false if lengths differ). */
bool cs_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
