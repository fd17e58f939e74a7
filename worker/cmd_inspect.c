/* cmd_inspect.c - crowdsky-worker inspect FILE... (SPEC section 3).
 *
 * One JSON object per line per file, in argument order, on stdout; the exit
 * status is 1 if any file failed, 2 on a usage error. The header goes through
 * the same streaming reader as an upload, so inspect says exactly what the web
 * tier would accept or refuse, and why. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "crowdsky/chunkkey.h"
#include "crowdsky/err.h"
#include "crowdsky/fits.h"

static void usage(FILE *f)
{
        fprintf(f,
                "usage: crowdsky-worker inspect [--] FILE...\n"
                "\n"
                "Checks each FITS file as an upload would be checked and prints one JSON\n"
                "object per line per file:\n"
                "  {\"file\",\"ok\":true,\"date_obs\",\"object\",\"ra\",\"dec\",\"exptime\",\n"
                "   \"width\",\"height\",\"bayer\",\"chunk_key\"}\n"
                "  {\"file\",\"ok\":false,\"error\":\"<reason>\"}\n"
                "date_obs is normalised ISO 8601 UTC; ra/dec in degrees; object, exptime and\n"
                "bayer are null when the header lacks them.\n"
                "Exit status: 0 all files ok, 1 any file failed, 2 usage error.\n");
}

/* Prints obj as one line and frees it. Returns 0, or -1 if printing failed. */
static int emit(cJSON *obj)
{
        char *line = cJSON_PrintUnformatted(obj);
        int rc = 0;

        if (!line || printf("%s\n", line) < 0)
                rc = -1;
        free(line);
        cJSON_Delete(obj);
        return rc;
}

/* Builds the JSON line for one file. Returns true when the file was ok. */
static bool inspect_one(const char *path, cJSON *obj)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_fits_info info;
        char key[CS_CHUNKKEY_MAX];

        cJSON_AddStringToObject(obj, "file", path);
        if (cs_fits_read_info(path, &info, &err) < 0 ||
            cs_chunkkey_format(info.obs_time, info.ra, info.dec, key, &err) < 0) {
                cJSON_AddFalseToObject(obj, "ok");
                cJSON_AddStringToObject(obj, "error", err.msg);
                return false;
        }
        cJSON_AddTrueToObject(obj, "ok");
        cJSON_AddStringToObject(obj, "date_obs", info.date_obs);
        if (info.object[0])
                cJSON_AddStringToObject(obj, "object", info.object);
        else
                cJSON_AddNullToObject(obj, "object");
        cJSON_AddNumberToObject(obj, "ra", info.ra);
        cJSON_AddNumberToObject(obj, "dec", info.dec);
        if (info.has_exptime)
                cJSON_AddNumberToObject(obj, "exptime", info.exptime);
        else
                cJSON_AddNullToObject(obj, "exptime");
        cJSON_AddNumberToObject(obj, "width", info.width);
        cJSON_AddNumberToObject(obj, "height", info.height);
        if (info.bayer[0])
                cJSON_AddStringToObject(obj, "bayer", info.bayer);
        else
                cJSON_AddNullToObject(obj, "bayer");
        cJSON_AddStringToObject(obj, "chunk_key", key);
        return true;
}

int cmd_inspect(int argc, char **argv)
{
        int i, first = 1, nfail = 0;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        usage(stdout);
                        return 0;
                }
                if (!strcmp(argv[i], "--")) {
                        first = i + 1;
                        break;
                }
                if (argv[i][0] == '-' && argv[i][1] != '\0') {
                        fprintf(stderr, "crowdsky-worker inspect: unknown option '%s' (try --help)\n",
                                argv[i]);
                        return 2;
                }
        }
        if (first >= argc) {
                usage(stderr);
                return 2;
        }
        for (i = first; i < argc; i++) {
                cJSON *obj = cJSON_CreateObject();

                if (!obj) {
                        fprintf(stderr, "crowdsky-worker inspect: out of memory\n");
                        return 1;
                }
                if (!inspect_one(argv[i], obj))
                        nfail++;
                if (emit(obj) < 0) {
                        fprintf(stderr, "crowdsky-worker inspect: cannot write output\n");
                        return 1;
                }
        }
        if (fflush(stdout) != 0) {
                fprintf(stderr, "crowdsky-worker inspect: cannot write output\n");
                return 1;
        }
        return nfail ? 1 : 0;
}
