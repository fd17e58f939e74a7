/* config.c - defaults, then `key = value` file, then CROWDSKY_* environment. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crowdsky/config.h"
#include "crowdsky/str.h"

enum kind { K_STR, K_INT, K_I64, K_BOOL, K_F64 };

struct key {
        const char *name;
        enum kind kind;
        size_t off;
        size_t size; /* for K_STR */
        double lo, hi; /* for K_F64: 0 (off) or a number in [lo, hi] */
};

#define S(f) { #f, K_STR, offsetof(struct cs_config, f), sizeof(((struct cs_config *)0)->f), 0, 0 }
#define I(f) { #f, K_INT, offsetof(struct cs_config, f), 0, 0, 0 }
#define L(f) { #f, K_I64, offsetof(struct cs_config, f), 0, 0, 0 }
#define B(f) { #f, K_BOOL, offsetof(struct cs_config, f), 0, 0, 0 }
#define D(f, lo, hi) { #f, K_F64, offsetof(struct cs_config, f), 0, lo, hi }

static const struct key keys[] = {
        S(db_host), I(db_port), S(db_socket), S(db_user), S(db_password), S(db_name),
        S(fcgi_listen), I(fcgi_threads), S(site_url), S(site_secret), B(cookie_secure),
        I(session_idle_seconds), I(session_max_seconds), S(metrics_token),
        S(buffer_dir), L(buffer_quota_bytes), L(max_upload_bytes),
        I(upload_session_ttl_seconds), L(clock_offset_seconds),
        I(lease_seconds), I(max_attempts),
        S(webdav_url), S(webdav_user), S(webdav_password),
        S(api_url), S(worker_token), S(scratch_dir), I(worker_threads),
        I(poll_interval_seconds), I(poll_max_seconds),
        D(stack_max_fwhm_ratio, 1, 100), D(stack_min_stars_ratio, 0, 1),
        S(log_level),
};

static void set_str(char *dst, size_t n, const char *v)
{
        snprintf(dst, n, "%s", v);
}

void cs_config_defaults(struct cs_config *c)
{
        memset(c, 0, sizeof *c);
        set_str(c->db_host, sizeof c->db_host, "localhost");
        c->db_port = 3306;
        set_str(c->db_user, sizeof c->db_user, "crowdsky");
        set_str(c->db_name, sizeof c->db_name, "crowdsky");
        set_str(c->fcgi_listen, sizeof c->fcgi_listen, "var/run/fcgi.sock");
        c->fcgi_threads = 8;
        set_str(c->site_url, sizeof c->site_url, "http://127.0.0.1:8080");
        c->cookie_secure = true;
        c->session_idle_seconds = 7200;
        c->session_max_seconds = 7 * 86400;
        set_str(c->buffer_dir, sizeof c->buffer_dir, "var/buffer");
        c->buffer_quota_bytes = 50LL * 1000 * 1000 * 1000;
        c->max_upload_bytes = 50LL * 1024 * 1024;
        c->upload_session_ttl_seconds = 86400;
        c->lease_seconds = 300;
        c->max_attempts = 3;
        set_str(c->webdav_url, sizeof c->webdav_url, "http://127.0.0.1:8080/dav/");
        set_str(c->api_url, sizeof c->api_url, "http://127.0.0.1:8080");
        set_str(c->scratch_dir, sizeof c->scratch_dir, "var/scratch");
        c->poll_interval_seconds = 5;
        c->poll_max_seconds = 60;
        set_str(c->log_level, sizeof c->log_level, "info");
}

static const struct key *find_key(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
                if (strcmp(keys[i].name, name) == 0)
                        return &keys[i];
        return NULL;
}

int cs_config_set(struct cs_config *cfg, const char *name, const char *value, struct cs_err *err)
{
        const struct key *k = find_key(name);
        char *field;
        int64_t v;

        if (!k)
                return cs_err_set(err, CS_EINVAL, "unknown configuration key '%s'", name);
        field = (char *)cfg + k->off;
        switch (k->kind) {
        case K_STR:
                if (strlen(value) >= k->size)
                        return cs_err_set(err, CS_EINVAL, "value of '%s' is too long", name);
                set_str(field, k->size, value);
                return CS_OK;
        case K_BOOL:
                if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
                    !strcasecmp(value, "on"))
                        *(bool *)field = true;
                else if (!strcasecmp(value, "false") || !strcmp(value, "0") ||
                         !strcasecmp(value, "no") || !strcasecmp(value, "off"))
                        *(bool *)field = false;
                else
                        return cs_err_set(err, CS_EINVAL, "'%s' must be true or false, not '%s'", name, value);
                return CS_OK;
        case K_INT:
                if (cs_parse_i64_c(value, &v) < 0 || v < -2147483647 || v > 2147483647)
                        return cs_err_set(err, CS_EINVAL, "'%s' must be an integer, not '%s'", name, value);
                *(int *)field = (int)v;
                return CS_OK;
        case K_I64:
                if (cs_parse_i64_c(value, &v) < 0)
                        return cs_err_set(err, CS_EINVAL, "'%s' must be an integer, not '%s'", name, value);
                *(int64_t *)field = v;
                return CS_OK;
        case K_F64: {
                double d;

                if (cs_parse_f64_c(value, &d) < 0 || !(d >= 0 && d <= k->hi))
                        return cs_err_set(err, CS_EINVAL, "'%s' must be a number in [%g, %g], not '%s'", name,
                                          k->lo > 0 ? 0.0 : k->lo, k->hi, value);
                if (d > 0 && d < k->lo)
                        return cs_err_set(err, CS_EINVAL, "'%s' must be 0 (off) or at least %g, not '%s'", name, k->lo,
                                          value);
                *(double *)field = d;
                return CS_OK;
        }
        }
        return CS_EINVAL;
}

static char *trim(char *s)
{
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

static int load_file(const char *path, struct cs_config *cfg, struct cs_err *err)
{
        char line[2048];
        FILE *f = fopen(path, "r");
        int lineno = 0, r = CS_OK;

        if (!f)
                return cs_err_set(err, CS_EIO, "cannot open config '%s': %s", path, strerror(errno));
        while (fgets(line, sizeof line, f)) {
                char *s, *eq, *key, *val;
                size_t vl;

                lineno++;
                s = trim(line);
                if (*s == '\0' || *s == '#' || *s == ';')
                        continue;
                eq = strchr(s, '=');
                if (!eq) {
                        r = cs_err_set(err, CS_EINVAL, "%s:%d: expected 'key = value'", path, lineno);
                        break;
                }
                *eq = '\0';
                key = trim(s);
                val = trim(eq + 1);
                vl = strlen(val);
                if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') || (val[0] == '\'' && val[vl - 1] == '\''))) {
                        val[vl - 1] = '\0';
                        val++;
                }
                r = cs_config_set(cfg, key, val, err);
                if (r < 0) {
                        cs_err_prefix(err, "%s:%d", path, lineno);
                        break;
                }
        }
        fclose(f);
        return r;
}

int cs_config_load(const char *path, struct cs_config *cfg, struct cs_err *err)
{
        size_t i;
        int r;

        cs_config_defaults(cfg);
        if (path && *path) {
                r = load_file(path, cfg, err);
                if (r < 0)
                        return r;
        }
        for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                char env[128];
                const char *v;
                size_t j;

                snprintf(env, sizeof env, "CROWDSKY_%s", keys[i].name);
                for (j = 9; env[j]; j++)
                        env[j] = (char)toupper((unsigned char)env[j]);
                v = getenv(env);
                if (v) {
                        r = cs_config_set(cfg, keys[i].name, v, err);
                        if (r < 0)
                                return cs_err_prefix(err, "environment %s", env);
                }
        }
        return CS_OK;
}
