/* The hearth commands. Each takes the arguments after its name and returns the exit status:
 * 0 success, 1 a runtime failure (with a one-line "hearth: error: ..." on stderr), 2 a usage
 * error, 130 interrupted. */
#ifndef HEARTH_CLI_CLI_H
#define HEARTH_CLI_CLI_H

int cmd_run(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* Prints "hearth: error: MSG" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
