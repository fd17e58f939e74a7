/* replay_main.c - runs a fuzz target on files without libFuzzer (-Dfuzz=false):
 * every argument is a file or a folder whose files are each passed once to
 * LLVMFuzzerTestOneInput, so the corpus (seeds + past crashers) is an ordinary
 * regression test. Exit 0 when all ran; 1 if an argument could not be read or
 * held no input (a target that crashes aborts instead). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        long len;
        int rc = -1;

        if (!f) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
                fprintf(stderr, "replay: %s: cannot size\n", path);
                goto out;
        }
        buf = malloc(len ? (size_t)len : 1);
        if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
                fprintf(stderr, "replay: %s: cannot read\n", path);
                goto out;
        }
        LLVMFuzzerTestOneInput(buf, (size_t)len);
        rc = 0;
out:
        free(buf);
        fclose(f);
        return rc;
}

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
        int i, nrun = 0, nfail = 0;

        for (i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) != 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        nfail++;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        DIR *d = opendir(argv[i]);
                        struct dirent *de;
                        char **names = NULL;
                        size_t n = 0, cap = 0, k;

                        if (!d) {
                                nfail++;
                                continue;
                        }
                        while ((de = readdir(d)) != NULL) {
                                if (de->d_name[0] == '.')
                                        continue;
                                if (n == cap) {
                                        cap = cap ? cap * 2 : 64;
                                        names = realloc(names, cap * sizeof *names);
                                        if (!names)
                                                abort();
                                }
                                if (asprintf(&names[n], "%s/%s", argv[i], de->d_name) < 0)
                                        abort();
                                n++;
                        }
                        closedir(d);
                        qsort(names, n, sizeof *names, cmp);
                        for (k = 0; k < n; k++) {
                                printf("%s\n", names[k]);
                                fflush(stdout);
                                if (run_file(names[k]) < 0)
                                        nfail++;
                                else
                                        nrun++;
                                free(names[k]);
                        }
                        free(names);
                } else if (run_file(argv[i]) < 0) {
                        nfail++;
                } else {
                        nrun++;
                }
        }
        printf("replayed %d inputs, %d unreadable\n", nrun, nfail);
        return nfail || nrun == 0 ? 1 : 0;
}
