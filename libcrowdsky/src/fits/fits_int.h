/* fits_int.h - private to src/fits: one parsed header card. */
#ifndef CROWDSKY_FITS_INT_H
#define CROWDSKY_FITS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "crowdsky/fits.h"

enum cs__fits_vtype {
        CS__FV_NONE,    /* commentary card, or "KEY =" with an empty (undefined) value */
        CS__FV_LOGICAL,
        CS__FV_INT,
        CS__FV_FLOAT,
        CS__FV_STRING,
        CS__FV_OTHER,   /* a value we do not interpret (complex, or malformed) */
};

struct cs__fits_card {
        char key[9];                /* keyword, trailing spaces removed */
        bool has_value;             /* "= " in columns 9-10 (and not commentary) */
        enum cs__fits_vtype type;
        bool logical;
        int64_t i;                  /* CS__FV_INT */
        double f;                   /* CS__FV_INT and CS__FV_FLOAT */
        char s[72];                 /* CS__FV_STRING: unescaped, trailing spaces trimmed;
                                     * CS__FV_INT/FLOAT/OTHER: the raw token */
};

/* Parses one 80-byte card (bytes already checked to be printable ASCII). Never
 * fails: a value it cannot read (unterminated string, garbage) is CS__FV_OTHER
 * with the raw text, and the reader decides whether that keyword matters. */
void cs__fits_card_parse(const char card[CS_FITS_CARD], struct cs__fits_card *ret);

#endif
