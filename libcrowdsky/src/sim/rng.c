/* rng.c - xoshiro256** + splitmix64 seeding, normal and Poisson samplers. */
#include <math.h>

#include "sim/sim_int.h"

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

void cs__sim_rng_seed(struct cs__sim_rng *r, uint64_t seed, uint64_t stream)
{
        uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
        int i;

        /* Mix the stream in twice so neighbouring (seed, stream) pairs share nothing. */
        (void)splitmix64(&x);
        x ^= stream;
        for (i = 0; i < 4; i++)
                r->s[i] = splitmix64(&x);
        r->has_spare = 0;
        r->spare = 0.0;
}

uint64_t cs__sim_rng_u64(struct cs__sim_rng *r)
{
        uint64_t *s = r->s;
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

double cs__sim_rng_uniform(struct cs__sim_rng *r)
{
        return (double)(cs__sim_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t cs__sim_rng_below(struct cs__sim_rng *r, uint64_t n)
{
        /* Rejection removes the modulo bias. */
        uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;

        do
                v = cs__sim_rng_u64(r);
        while (v >= lim);
        return v % n;
}

double cs__sim_rng_normal(struct cs__sim_rng *r)
{
        double u, v, s, f;

        if (r->has_spare) {
                r->has_spare = 0;
                return r->spare;
        }
        do {
                u = 2.0 * cs__sim_rng_uniform(r) - 1.0;
                v = 2.0 * cs__sim_rng_uniform(r) - 1.0;
                s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        f = sqrt(-2.0 * log(s) / s);
        r->spare = v * f;
        r->has_spare = 1;
        return u * f;
}

double cs__sim_rng_poisson(struct cs__sim_rng *r, double lam)
{
        double slam, loglam, b, a, invalpha, vr, u, v, us, k, lg;
        int sign;

        if (!(lam > 0.0))
                return 0.0;
        if (lam < 10.0) {
                double lim = exp(-lam), prod = cs__sim_rng_uniform(r);
                double n = 0.0;

                while (prod > lim) {
                        prod *= cs__sim_rng_uniform(r);
                        n += 1.0;
                }
                return n;
        }
        /* PTRS: W. Hormann, "The transformed rejection method for generating
         * Poisson random variables", Insurance: Math. and Econ. 12 (1993). */
        slam = sqrt(lam);
        loglam = NAN; /* only the slow path needs it (~10 % of draws) */
        b = 0.931 + 2.53 * slam;
        a = -0.059 + 0.02483 * b;
        invalpha = 1.1239 + 1.1328 / (b - 3.4);
        vr = 0.9277 - 3.6224 / (b - 2.0);
        for (;;) {
                u = cs__sim_rng_uniform(r) - 0.5;
                v = cs__sim_rng_uniform(r);
                us = 0.5 - fabs(u);
                k = floor((2.0 * a / us + b) * u + lam + 0.43);
                if (us >= 0.07 && v <= vr)
                        return k;
                if (k < 0.0 || (us < 0.013 && v > us))
                        continue;
                if (isnan(loglam))
                        loglam = log(lam);
                lg = lgamma_r(k + 1.0, &sign);
                if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lam + k * loglam - lg)
                        return k;
        }
}
