/* select.c - the k-th smallest of an array of floats (quickselect); see
 * crowdsky/select.h. */
#include "crowdsky/select.h"

/* Hoare quickselect; the median of three as pivot keeps sorted input linear,
 * and runs of equal values split evenly. */
static float select_hoare(float *a, size_t n, size_t k)
{
        size_t lo = 0, hi = n - 1;

        while (hi > lo) {
                size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
                float x = a[lo], y = a[mid], z = a[hi], piv, t;

                if (x > y) {
                        t = x;
                        x = y;
                        y = t;
                }
                if (y > z)
                        y = z;
                piv = x > y ? x : y;
                while (i <= j) {
                        while (a[i] < piv)
                                i++;
                        while (a[j] > piv)
                                j--;
                        if (i <= j) {
                                t = a[i];
                                a[i] = a[j];
                                a[j] = t;
                                i++;
                                if (j == 0)
                                        break;
                                j--;
                        }
                }
                if (k <= j)
                        hi = j;
                else if (k >= i)
                        lo = i;
                else
                        break;
        }
        return a[k];
}

/* Quickselect with a branch-free partition: every value is swapped into place
 * unconditionally and the boundary moves by the comparison's result, so noisy
 * data cost no mispredicted branches (256 sky values: 0.95 instead of 2.7 us;
 * the tile medians of star detection were 6 % of a stack's CPU). A partition
 * that barely shrinks the range (many equal values, where this Lomuto scheme
 * degrades) hands over to select_hoare; the last 16 values are sorted by
 * insertion. */
float cs_select_f32(float *a, size_t n, size_t k)
{
        size_t lo = 0, hi = n, i;

        while (hi - lo > 16) {
                size_t mid = lo + (hi - lo) / 2, s, len = hi - lo;
                float x = a[lo], y = a[mid], z = a[hi - 1], piv, t;

                if (x > y) {
                        t = x;
                        x = y;
                        y = t;
                }
                piv = y < z ? y : z;
                piv = piv > x ? piv : x;
                /* the pivot to the last place */
                if (piv == a[lo]) {
                        a[lo] = a[hi - 1];
                        a[hi - 1] = piv;
                } else if (piv == a[mid]) {
                        a[mid] = a[hi - 1];
                        a[hi - 1] = piv;
                }
                s = lo;
                for (i = lo; i < hi - 1; i++) {
                        float v = a[i];

                        a[i] = a[s];
                        a[s] = v;
                        s += v < piv;
                }
                a[hi - 1] = a[s];
                a[s] = piv;
                if (k == s)
                        return piv;
                if (k < s)
                        hi = s;
                else
                        lo = s + 1;
                if (hi - lo > len - len / 8)
                        return select_hoare(a + lo, hi - lo, k - lo);
        }
        for (i = lo + 1; i < hi; i++) {
                float v = a[i];
                size_t j = i;

                while (j > lo && a[j - 1] > v) {
                        a[j] = a[j - 1];
                        j--;
                }
                a[j] = v;
        }
        return a[k];
}
