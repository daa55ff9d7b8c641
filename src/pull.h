/* pull: the `ggswap pull REF [--models-dir DIR] [--quant QUANT]` command (SPEC §1).
 *
 * Runs download.c's manager on its own libuv loop until the pull ends, drawing a progress bar
 * on a terminal (bytes, speed, time left) or one line per 10 % otherwise, and prints where
 * each verified file was put. The folder is --models-dir, else the first of settings.yaml's
 * modelsDirs, else ~/.clara/llama-models (created when missing). The token is $HF_TOKEN, else
 * hfToken in settings.yaml. Exit 0 only when every file is complete and verified, 1 when the
 * pull failed, 2 for a usage error. */
#ifndef GS_PULL_H
#define GS_PULL_H

int gs_pull_main(int argc, char **argv);

/* The progress line for a terminal: "name  42% [=====>      ] 1.2/2.9 GB  31.0 MB/s  0:55 left"
 * (pure, for tests). total < 0 means unknown; speed in bytes/s. Writes at most len bytes. */
void gs_pull_progress_line(char *out, size_t len, const char *name, int64_t done, int64_t total,
                           double speed, int width);

#endif
