/* select.h - the k-th smallest of an array of floats: the medians and MADs of
 * star detection, combine and the thumbnail's stretch. */
#ifndef CROWDSKY_SELECT_H
#define CROWDSKY_SELECT_H

#include <stddef.h>

/* k-th smallest of a[0..n-1] (0-based), reordering a. n >= 1, k < n; no NaN. */
float cs_select_f32(float *a, size_t n, size_t k);

#endif
