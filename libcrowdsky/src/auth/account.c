/* account.c - users, browser sessions and personal API tokens in MariaDB. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crowdsky/auth.h"
#include "crowdsky/db.h"
#include "crowdsky/rand.h"
#include "crowdsky/str.h"

int cs_user_validate_name(const char *name, struct cs_err *err)
{
        size_t i, n = strlen(name);

        if (n < 3 || n > 40)
                return cs_err_set(err, CS_EINVAL, "username must be 3 to 40 characters long");
        for (i = 0; i < n; i++) {
                char c = name[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
                        return cs_err_set(err, CS_EINVAL,
                                          "username may contain only letters, digits, '_', '.' and '-', "
                                          "and must start with a letter or digit");
        }
        return CS_OK;
}

int cs_user_validate_email(const char *email, struct cs_err *err)
{
        size_t i, n = strlen(email);
        const char *at = strchr(email, '@');

        if (n < 3 || n > 254)
                return cs_err_set(err, CS_EINVAL, "email address must be 3 to 254 characters long");
        if (!at || at == email || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
            email[n - 1] == '.')
                return cs_err_set(err, CS_EINVAL, "email address is not valid");
        for (i = 0; i < n; i++)
                if ((unsigned char)email[i] <= ' ' || (unsigned char)email[i] >= 0x7f || email[i] == '<' ||
                    email[i] == '>' || email[i] == '"')
                        return cs_err_set(err, CS_EINVAL, "email address is not valid");
        return CS_OK;
}

int cs_user_create(struct cs_db *db, const char *name, const char *email, const char *password,
                   bool is_admin, int64_t *ret_id, struct cs_err *err)
{
        char hash[CS_AUTH_HASH_MAX];
        uint64_t id;
        int64_t n;
        int r;

        r = cs_user_validate_name(name, err);
        if (r == CS_OK)
                r = cs_user_validate_email(email, err);
        if (r == CS_OK)
                r = cs_auth_password_policy(password, strlen(password), err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_STR(name) };
                r = cs_db_query_i64(db, "SELECT COUNT(*) FROM users WHERE username = ?", p, CS_DB_N(p),
                                    &n, err);
                if (r < 0)
                        return r;
                if (n > 0)
                        return cs_err_set(err, CS_ECONFLICT, "the username '%s' is taken", name);
        }
        {
                struct cs_db_param p[] = { CS_DB_STR(email) };
                r = cs_db_query_i64(db, "SELECT COUNT(*) FROM users WHERE email = ?", p, CS_DB_N(p),
                                    &n, err);
                if (r < 0)
                        return r;
                if (n > 0)
                        return cs_err_set(err, CS_ECONFLICT, "an account with this email address already exists");
        }
        r = cs_auth_password_hash(password, strlen(password), hash, err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_STR(name), CS_DB_STR(email), CS_DB_STR(hash),
                                           CS_DB_BOOL(is_admin) };
                r = cs_db_exec(db,
                               "INSERT INTO users (username, email, password_hash, is_admin) "
                               "VALUES (?, ?, ?, ?)",
                               p, CS_DB_N(p), NULL, &id, err);
        }
        if (r == CS_ECONFLICT)
                return cs_err_set(err, CS_ECONFLICT, "the username '%s' is taken", name);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = (int64_t)id;
        return CS_OK;
}

static int user_from_rows(struct cs_db_rows *rows, struct cs_user *ret)
{
        memset(ret, 0, sizeof *ret);
        ret->id = cs_db_rows_i64(rows, 0, 0);
        snprintf(ret->name, sizeof ret->name, "%s", cs_db_rows_str(rows, 0, 1));
        snprintf(ret->email, sizeof ret->email, "%s", cs_db_rows_str(rows, 0, 2));
        snprintf(ret->password_hash, sizeof ret->password_hash, "%s", cs_db_rows_str(rows, 0, 3));
        ret->is_admin = cs_db_rows_i64(rows, 0, 4) != 0;
        ret->scrub_location = cs_db_rows_i64(rows, 0, 5) != 0;
        return CS_OK;
}

#define USER_COLS "SELECT id, username, email, password_hash, is_admin, scrub_location FROM users "

int cs_user_find(struct cs_db *db, const char *name, struct cs_user *ret, struct cs_err *err)
{
        struct cs_db_param p[] = { CS_DB_STR(name) };
        struct cs_db_rows *rows = NULL;
        int r;

        r = cs_db_query(db, USER_COLS "WHERE username = ?", p, CS_DB_N(p), &rows, err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0)
                r = cs_err_set(err, CS_ENOTFOUND, "no such user '%s'", name);
        else
                r = user_from_rows(rows, ret);
        cs_db_rows_free(rows);
        return r;
}

int cs_user_get(struct cs_db *db, int64_t id, struct cs_user *ret, struct cs_err *err)
{
        struct cs_db_param p[] = { CS_DB_I64(id) };
        struct cs_db_rows *rows = NULL;
        int r;

        r = cs_db_query(db, USER_COLS "WHERE id = ?", p, CS_DB_N(p), &rows, err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0)
                r = cs_err_set(err, CS_ENOTFOUND, "no such user id %lld", (long long)id);
        else
                r = user_from_rows(rows, ret);
        cs_db_rows_free(rows);
        return r;
}

int cs_user_set_password(struct cs_db *db, int64_t user_id, const char *password,
                         struct cs_err *err)
{
        char hash[CS_AUTH_HASH_MAX];
        uint64_t n = 0;
        int r;

        r = cs_auth_password_policy(password, strlen(password), err);
        if (r == CS_OK)
                r = cs_auth_password_hash(password, strlen(password), hash, err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_STR(hash), CS_DB_I64(user_id) };
                r = cs_db_exec(db, "UPDATE users SET password_hash = ? WHERE id = ?", p, CS_DB_N(p),
                               &n, NULL, err);
        }
        if (r < 0)
                return r;
        if (n == 0)
                return cs_err_set(err, CS_ENOTFOUND, "no such user id %lld", (long long)user_id);
        {
                struct cs_db_param p[] = { CS_DB_I64(user_id) };
                r = cs_db_exec(db, "DELETE FROM login_sessions WHERE user_id = ?", p, CS_DB_N(p),
                               NULL, NULL, err);
        }
        return r;
}

/* ---- sessions ---- */

static bool is_hex64(const char *s)
{
        size_t i;

        for (i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[64] == '\0';
}

bool cs_session_hash(const char *cookie, char out[CS_AUTH_HEX])
{
        if (!cookie || strlen(cookie) != 64 || !is_hex64(cookie))
                return false;
        cs_auth_sha256_hex(cookie, 64, out);
        return true;
}

int cs_session_create(struct cs_db *db, const struct cs_config *cfg, int64_t user_id,
                      char ret_cookie[CS_AUTH_HEX], struct cs_session *ret, struct cs_err *err)
{
        char cookie[CS_AUTH_HEX], hash[CS_AUTH_HEX], csrf[CS_AUTH_HEX];
        struct cs_user u;
        int r;

        r = cs_random_hex(cookie, 32, err);
        if (r == CS_OK)
                r = cs_random_hex(csrf, 32, err);
        if (r == CS_OK)
                r = cs_user_get(db, user_id, &u, err);
        if (r < 0)
                return r;
        cs_auth_sha256_hex(cookie, 64, hash);
        {
                struct cs_db_param p[] = { CS_DB_STR(hash), CS_DB_STR(csrf), CS_DB_I64(user_id),
                                           CS_DB_I64(cfg->session_max_seconds) };
                r = cs_db_exec(db,
                               "INSERT INTO login_sessions (session_hash, csrf_token, user_id, expires_at) "
                               "VALUES (?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? SECOND)",
                               p, CS_DB_N(p), NULL, NULL, err);
        }
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_I64(user_id) };
                /* best effort bookkeeping */
                (void)cs_db_exec(db, "UPDATE users SET last_login_at = UTC_TIMESTAMP(6) WHERE id = ?", p,
                                 CS_DB_N(p), NULL, NULL, NULL);
        }
        memcpy(ret_cookie, cookie, CS_AUTH_HEX);
        if (ret) {
                memset(ret, 0, sizeof *ret);
                ret->user_id = user_id;
                snprintf(ret->username, sizeof ret->username, "%s", u.name);
                ret->is_admin = u.is_admin;
                memcpy(ret->csrf, csrf, CS_AUTH_HEX);
                memcpy(ret->id_hash, hash, CS_AUTH_HEX);
        }
        return CS_OK;
}

int cs_session_lookup(struct cs_db *db, const struct cs_config *cfg, const char *cookie,
                      struct cs_session *ret, struct cs_err *err)
{
        char hash[CS_AUTH_HEX];
        struct cs_db_rows *rows = NULL;
        int r;

        if (!cookie || strlen(cookie) != 64 || !is_hex64(cookie))
                return cs_err_set(err, CS_ENOTFOUND, "no session");
        cs_auth_sha256_hex(cookie, 64, hash);
        {
                struct cs_db_param p[] = { CS_DB_STR(hash), CS_DB_I64(cfg->session_idle_seconds) };
                r = cs_db_query(db,
                                "SELECT s.user_id, u.username, u.is_admin, s.csrf_token, "
                                "UNIX_TIMESTAMP(UTC_TIMESTAMP(6)) - UNIX_TIMESTAMP(s.last_seen_at) "
                                "FROM login_sessions s JOIN users u ON u.id = s.user_id "
                                "WHERE s.session_hash = ? AND s.expires_at > UTC_TIMESTAMP(6) "
                                "AND s.last_seen_at > UTC_TIMESTAMP(6) - INTERVAL ? SECOND",
                                p, CS_DB_N(p), &rows, err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_err_set(err, CS_ENOTFOUND, "no session");
        }
        memset(ret, 0, sizeof *ret);
        ret->user_id = cs_db_rows_i64(rows, 0, 0);
        snprintf(ret->username, sizeof ret->username, "%s", cs_db_rows_str(rows, 0, 1));
        ret->is_admin = cs_db_rows_i64(rows, 0, 2) != 0;
        snprintf(ret->csrf, sizeof ret->csrf, "%s", cs_db_rows_str(rows, 0, 3));
        memcpy(ret->id_hash, hash, CS_AUTH_HEX);
        /* refresh the idle timer at most once a minute: a page view is one SELECT */
        if (cs_db_rows_f64(rows, 0, 4) > 60.0) {
                struct cs_db_param p[] = { CS_DB_STR(hash) };
                (void)cs_db_exec(db, "UPDATE login_sessions SET last_seen_at = UTC_TIMESTAMP(6) "
                                     "WHERE session_hash = ?",
                                 p, CS_DB_N(p), NULL, NULL, NULL);
        }
        cs_db_rows_free(rows);
        return CS_OK;
}

int cs_session_destroy(struct cs_db *db, const char *cookie, struct cs_err *err)
{
        char hash[CS_AUTH_HEX];

        if (!cookie || strlen(cookie) != 64 || !is_hex64(cookie))
                return CS_OK;
        cs_auth_sha256_hex(cookie, 64, hash);
        {
                struct cs_db_param p[] = { CS_DB_STR(hash) };
                return cs_db_exec(db, "DELETE FROM login_sessions WHERE session_hash = ?", p,
                                  CS_DB_N(p), NULL, NULL, err);
        }
}

bool cs_session_csrf_ok(const struct cs_session *s, const char *token)
{
        if (!token || !s->csrf[0])
                return false;
        return cs_ct_equal(s->csrf, strlen(s->csrf), token, strlen(token));
}

/* ---- API tokens ---- */

int cs_apitoken_create(struct cs_db *db, int64_t user_id, const char *label,
                       char ret_token[CS_API_TOKEN_LEN + 1], int64_t *ret_id, struct cs_err *err)
{
        char tok[CS_API_TOKEN_LEN + 1], hash[CS_AUTH_HEX];
        uint64_t id;
        int r;

        if (!label || !label[0])
                label = "API token";
        if (strlen(label) > 100)
                return cs_err_set(err, CS_EINVAL, "token label must be at most 100 characters");
        r = cs_auth_token_new(CS_API_TOKEN_PREFIX, tok, sizeof tok, err);
        if (r < 0)
                return r;
        cs_auth_sha256_hex(tok, strlen(tok), hash);
        {
                struct cs_db_param p[] = { CS_DB_I64(user_id), CS_DB_STR(label), CS_DB_STR(hash) };
                r = cs_db_exec(db, "INSERT INTO api_tokens (user_id, name, token_hash) VALUES (?, ?, ?)",
                               p, CS_DB_N(p), NULL, &id, err);
        }
        if (r < 0)
                return r;
        memcpy(ret_token, tok, sizeof tok);
        if (ret_id)
                *ret_id = (int64_t)id;
        return CS_OK;
}

int cs_apitoken_check(struct cs_db *db, int64_t user_id, const char *token, struct cs_err *err)
{
        char hash[CS_AUTH_HEX];
        int64_t id;
        int r;

        if (!cs_auth_is_api_token(token))
                return cs_err_set(err, CS_EAUTH, "not an API token");
        cs_auth_sha256_hex(token, strlen(token), hash);
        {
                struct cs_db_param p[] = { CS_DB_STR(hash), CS_DB_I64(user_id) };
                r = cs_db_query_i64(db,
                                    "SELECT id FROM api_tokens WHERE token_hash = ? AND user_id = ? "
                                    "AND revoked_at IS NULL",
                                    p, CS_DB_N(p), &id, err);
        }
        if (r == CS_ENOTFOUND)
                return cs_err_set(err, CS_EAUTH, "unknown or revoked API token");
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_I64(id) };
                (void)cs_db_exec(db,
                                 "UPDATE api_tokens SET last_used_at = UTC_TIMESTAMP(6) WHERE id = ? "
                                 "AND (last_used_at IS NULL OR last_used_at < UTC_TIMESTAMP(6) - INTERVAL 60 SECOND)",
                                 p, CS_DB_N(p), NULL, NULL, NULL);
        }
        return CS_OK;
}

int cs_apitoken_revoke(struct cs_db *db, int64_t user_id, int64_t token_id, struct cs_err *err)
{
        struct cs_db_param p[] = { CS_DB_I64(token_id), CS_DB_I64(user_id) };
        uint64_t n = 0;
        int r;

        r = cs_db_exec(db,
                       "UPDATE api_tokens SET revoked_at = UTC_TIMESTAMP(6) WHERE id = ? AND user_id = ? "
                       "AND revoked_at IS NULL",
                       p, CS_DB_N(p), &n, NULL, err);
        if (r < 0)
                return r;
        if (n == 0)
                return cs_err_set(err, CS_ENOTFOUND, "no such API token");
        return CS_OK;
}
