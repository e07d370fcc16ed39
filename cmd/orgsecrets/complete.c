/* completion bash|zsh|fish: the scripts, and the hidden `__complete` they
 * call with the words typed so far. A command's options come from the
 * command itself (cli_complete_capture), so completion cannot drift from
 * what the parser accepts; names come from the current organization. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets completion bash|zsh|fish\n"
    "\n"
    "Prints a completion script for the shell: commands, options, and the\n"
    "environment, application, member and secret names of the organization\n"
    "(found as every command finds it). Load it with\n"
    "  bash:  source <(orgsecrets completion bash)     (e.g. in ~/.bashrc)\n"
    "  zsh:   source <(orgsecrets completion zsh)      (after compinit)\n"
    "  fish:  orgsecrets completion fish | source\n"
    "or save it where the shell looks for completions. The scripts call\n"
    "`orgsecrets __complete WORD...`, which prints one candidate per line.\n";

static const char bash_script[] =
    "# orgsecrets completion for bash: source <(orgsecrets completion bash)\n"
    "_orgsecrets_complete() {\n"
    "  local cur=${COMP_WORDS[COMP_CWORD]} out IFS=$'\\n'\n"
    "  out=$(command \"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" "
    "2>/dev/null) || return 0\n"
    "  if [ \"$out\" = :files ]; then\n"
    "    compopt -o filenames 2>/dev/null\n"
    "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "  else\n"
    "    COMPREPLY=($out)\n"
    "  fi\n"
    "}\n"
    "complete -F _orgsecrets_complete orgsecrets\n";

static const char zsh_script[] =
    "#compdef orgsecrets\n"
    "# orgsecrets completion for zsh: source <(orgsecrets completion zsh), after compinit\n"
    "_orgsecrets() {\n"
    "  local out\n"
    "  local -a cands\n"
    "  out=$(command \"${words[1]}\" __complete \"${(@)words[2,CURRENT]}\" 2>/dev/null) || "
    "return 1\n"
    "  if [[ $out == :files ]]; then\n"
    "    _files\n"
    "    return\n"
    "  fi\n"
    "  cands=(\"${(@f)out}\")\n"
    "  (( ${#cands} )) && [[ -n $out ]] && compadd -Q -- \"${cands[@]}\"\n"
    "}\n"
    "if (( $+functions[compdef] )); then\n"
    "  compdef _orgsecrets orgsecrets\n"
    "fi\n";

static const char fish_script[] =
    "# orgsecrets completion for fish: orgsecrets completion fish | source\n"
    "function __orgsecrets_complete\n"
    "    set -l words (commandline -opc)\n"
    "    set -l cur (commandline -ct)\n"
    "    set -l out (command $words[1] __complete $words[2..-1] $cur 2>/dev/null)\n"
    "    if test \"$out\" = :files\n"
    "        __fish_complete_path $cur\n"
    "        return\n"
    "    end\n"
    "    printf '%s\\n' $out\n"
    "end\n"
    "complete -c orgsecrets -f -a '(__orgsecrets_complete)'\n";

int cmd_completion(cli_ctx *ctx, int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, NULL, 0, 1, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  const char *shell = a.n_pos == 1 ? a.pos[0] : "";
  if (strcmp(shell, "bash") == 0)
    fputs(bash_script, stdout);
  else if (strcmp(shell, "zsh") == 0)
    fputs(zsh_script, stdout);
  else if (strcmp(shell, "fish") == 0)
    fputs(fish_script, stdout);
  else
    return cli_usage_error(usage, "completion: expected bash, zsh or fish");
  return CLI_OK;
}

/* ---- __complete ---- */

static const char *const member_subs[] = {"add", "remove", "update", "list", NULL};
static const char *const env_subs[] = {"add", "list", "remove", "use", NULL};
static const char *const app_subs[] = {"add", "list", "remove", NULL};
static const char *const age_subs[] = {"keygen", "encrypt", "decrypt", NULL};
static const char *const audit_subs[] = {"verify", NULL};
static const char *const org_subs[] = {"set", NULL};
static const char *const shells[] = {"bash", "zsh", "fish", NULL};
static const char *const roles[] = {"admin", "member", "viewer", NULL};
static const char *const render_formats[] = {"env", "json", "k8s", NULL};
static const char *const list_formats[] = {"table", "json", "wide", NULL};
static const char *const listing_formats[] = {"table", "json", NULL};

static const struct {
  const char *cmd;
  const char *const *subs;
} sub_table[] = {{"member", member_subs}, {"env", env_subs}, {"app", app_subs},
                 {"age", age_subs},       {"audit", audit_subs}, {"org", org_subs}};

enum kind { K_NONE, K_SECRET, K_MEMBER, K_ENV, K_ENV_OR_ALL, K_APP, K_FILES, K_COMMAND, K_WORDS };

/* What the first positional argument of a command is. */
static const struct {
  const char *cmd, *sub;
  enum kind kind;
} positional[] = {
    {"reveal", NULL, K_SECRET},      {"delete", NULL, K_SECRET},   {"history", NULL, K_SECRET},
    {"set", NULL, K_SECRET},         {"update", NULL, K_SECRET},   {"resolve", NULL, K_SECRET},
    {"member", "update", K_MEMBER},  {"member", "remove", K_MEMBER}, {"env", "remove", K_ENV},
    {"env", "use", K_ENV},           {"app", "remove", K_APP},     {"refs", NULL, K_FILES},
    {"audit", "verify", K_FILES},    {"age", "encrypt", K_FILES},  {"age", "decrypt", K_FILES},
    {"help", NULL, K_COMMAND},       {"completion", NULL, K_WORDS},
};

static const cli_opt globals[] = {{"--dir", NULL, CLI_VALUE, NULL},
                                  {"--as", NULL, CLI_VALUE, NULL},
                                  {"--identity", "-i", CLI_VALUE, NULL},
                                  {"--help", "-h", CLI_FLAG, NULL}};

typedef struct comp {
  cli_ctx *ctx;
  const char *cmd, *sub;
  const char *env, *app; /* --env and --app typed so far */
  cli_opt_table opts;
  spec_tree *t;          /* loaded on first need */
  bool loaded;
  const char *prefix;    /* what a candidate must start with */
  const char *lead;      /* printed before each candidate ("--env=") */
} comp;

static bool same(const char *a, const char *b) {
  return a != NULL && b != NULL ? strcmp(a, b) == 0 : a == b;
}

static const char *const *subs_of(const char *cmd) {
  for (size_t i = 0; cmd != NULL && i < sizeof(sub_table) / sizeof(sub_table[0]); i++) {
    if (strcmp(sub_table[i].cmd, cmd) == 0)
      return sub_table[i].subs;
  }
  return NULL;
}

static void put(const comp *c, const char *cand) {
  if (strncmp(cand, c->prefix, strlen(c->prefix)) == 0)
    printf("%s%s\n", c->lead, cand);
}

static void put_words(const comp *c, const char *const *v) {
  for (size_t i = 0; v != NULL && v[i] != NULL; i++)
    put(c, v[i]);
}

/* The command's options, learnt by running it in capture mode with its
 * output sent to /dev/null (a command that does not parse just prints help). */
static void capture(comp *c) {
  char cmd[64], sub[64], help[] = "--help";
  snprintf(cmd, sizeof(cmd), "%s", c->cmd);
  snprintf(sub, sizeof(sub), "%s", c->sub != NULL ? c->sub : "");
  char *argv[4] = {cmd, sub, help, NULL};
  int argc = 3;
  if (c->sub == NULL) {
    argv[1] = help;
    argv[2] = NULL;
    argc = 2;
  }
  fflush(stdout);
  fflush(stderr);
  int out = dup(1), err = dup(2), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (out < 0 || err < 0 || null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
    goto done;
  cli_complete_capture(&c->opts);
  (void)cli_command_run(c->ctx, argc, argv);
  cli_complete_capture(NULL);
  fflush(stdout);
  fflush(stderr);
done:
  if (out >= 0)
    dup2(out, 1);
  if (err >= 0)
    dup2(err, 2);
  for (int fd = 0, fds[3] = {out, err, null}; fd < 3; fd++) {
    if (fds[fd] >= 0)
      close(fds[fd]);
  }
}

static const cli_opt *find(const comp *c, const char *name) {
  for (size_t i = 0; i < c->opts.n; i++) {
    const cli_opt *o = &c->opts.v[i];
    if (strcmp(o->name, name) == 0 || (o->alias != NULL && strcmp(o->alias, name) == 0))
      return o;
  }
  for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
    if (strcmp(globals[i].name, name) == 0 ||
        (globals[i].alias != NULL && strcmp(globals[i].alias, name) == 0))
      return &globals[i];
  }
  return NULL;
}

static bool takes_value(const comp *c, const char *name) {
  const cli_opt *o = find(c, name);
  return o != NULL && o->kind != CLI_FLAG;
}

static const spec_tree *tree(comp *c) {
  if (!c->loaded) {
    c->loaded = true;
    os_error err = OS_ERROR_INIT;
    const char *dir = cli_dir(c->ctx);
    if (c->ctx->dir != NULL || c->ctx->found_dir != NULL)
      (void)org_load(&c->t, dir, &err);
  }
  return c->t;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_names(comp *c, enum kind k) {
  const spec_tree *t = tree(c);
  if (k == K_ENV_OR_ALL)
    put(c, "all");
  if (t == NULL)
    return;
  const spec_org *o = t->org;
  if (k == K_ENV || k == K_ENV_OR_ALL) {
    for (size_t i = 0; i < o->n_envs; i++)
      put(c, o->envs[i].name);
  } else if (k == K_APP) {
    for (size_t i = 0; i < o->n_apps; i++)
      put(c, o->apps[i].name);
  } else if (k == K_MEMBER) {
    for (size_t i = 0; i < o->n_members; i++)
      put(c, o->members[i].name);
  } else if (k == K_SECRET && t->n_secrets > 0) {
    const char **v = calloc(t->n_secrets, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; v != NULL && i < t->n_secrets; i++) {
      const spec_secret *s = t->secrets[i];
      if ((c->env == NULL || strcmp(s->environment, c->env) == 0) &&
          (c->app == NULL || same(s->application, c->app)))
        v[n++] = s->name;
    }
    if (n > 0)
      qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++) {
      if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
        put(c, v[i]);
    }
    free(v);
  }
}

static void put_commands(const comp *c) {
  const char *names[64];
  size_t n = cli_command_names(names, 64);
  for (size_t i = 0; i < n; i++)
    put(c, names[i]);
  put(c, "help");
  put(c, "version");
}

/* The value of option name (its long form). */
static void put_value(comp *c, const char *name) {
  const cli_opt *o = find(c, name);
  const char *n = o != NULL ? o->name : name;
  const char *cmd = c->cmd != NULL ? c->cmd : "";
  bool files_o = strcmp(cmd, "keygen") == 0 || strcmp(cmd, "age") == 0;
  if (strcmp(n, "--env") == 0)
    put_names(c, strcmp(cmd, "list") == 0 ? K_ENV_OR_ALL : K_ENV);
  else if (strcmp(n, "--app") == 0)
    put_names(c, K_APP);
  else if (strcmp(n, "--as") == 0)
    put_names(c, K_MEMBER);
  else if (strcmp(n, "--role") == 0)
    put_words(c, roles);
  else if (strcmp(n, "--status") == 0)
    put_words(c, cli_list_statuses);
  else if (strcmp(n, "--format") == 0 || (strcmp(n, "--output") == 0 && strcmp(cmd, "render") == 0))
    put_words(c, render_formats);
  else if (strcmp(n, "--output") == 0 && !files_o)
    put_words(c, strcmp(cmd, "list") == 0 ? list_formats : listing_formats);
  else if (strcmp(n, "--output") == 0 || strcmp(n, "--output-file") == 0 ||
           strcmp(n, "--from-file") == 0 || strcmp(n, "--identity") == 0 ||
           strcmp(n, "--dir") == 0 || strcmp(n, "--recipients-file") == 0)
    printf(":files\n");
}

static void put_options(const comp *c) {
  bool aliases = c->prefix[0] == '-' && c->prefix[1] != '-';
  for (size_t i = 0; i < c->opts.n; i++) {
    put(c, c->opts.v[i].name);
    if (aliases && c->opts.v[i].alias != NULL)
      put(c, c->opts.v[i].alias);
  }
  /* age's subcommands take no global option after them */
  bool age = c->cmd != NULL && strcmp(c->cmd, "age") == 0;
  for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
    bool help = strcmp(globals[i].name, "--help") == 0;
    if (c->cmd != NULL && !help && (age || find(c, globals[i].name) != &globals[i]))
      continue; /* the command's own option of that name wins */
    put(c, globals[i].name);
    if (aliases && globals[i].alias != NULL)
      put(c, globals[i].alias);
  }
}

/* Notes an option and its value as typed: --dir changes the organization. */
static void note_value(comp *c, const char *name, const char *value) {
  const cli_opt *o = find(c, name);
  const char *n = o != NULL ? o->name : name;
  if (strcmp(n, "--dir") == 0 && value[0] != '\0')
    c->ctx->dir = value;
  else if (strcmp(n, "--env") == 0)
    c->env = value;
  else if (strcmp(n, "--app") == 0)
    c->app = value;
}

int cmd_complete(cli_ctx *ctx, int argc, char **argv) {
  comp c = {.ctx = ctx, .prefix = "", .lead = ""};
  int nw = argc - 1;
  char **w = argv + 1;
  const char *cur = nw > 0 ? w[nw - 1] : "";
  size_t npos = 0;
  const char *pending = NULL; /* an option whose value comes next */
  const char *const *subs = NULL;
  for (int i = 0; i < nw - 1; i++) {
    const char *x = w[i];
    if (strcmp(x, "=") == 0)
      continue; /* bash splits --env=dev at '=' */
    if (pending != NULL) {
      note_value(&c, pending, x);
      pending = NULL;
      continue;
    }
    if (strcmp(x, "--") == 0 && c.cmd != NULL)
      return CLI_OK; /* run's command line: the shell's own completion */
    if (x[0] == '-' && x[1] != '\0') {
      const char *eq = strchr(x, '=');
      char name[64];
      snprintf(name, sizeof(name), "%.*s", eq != NULL ? (int)(eq - x) : (int)strlen(x), x);
      if (eq != NULL)
        note_value(&c, name, eq + 1);
      else if (takes_value(&c, name))
        pending = find(&c, name)->name;
      continue;
    }
    if (c.cmd == NULL) {
      c.cmd = x;
      if (subs_of(x) == NULL)
        capture(&c);
    } else if (subs_of(c.cmd) != NULL && c.sub == NULL) {
      c.sub = x;
      capture(&c);
    } else {
      npos++;
    }
  }
  /* "--env=" with "=" split off by bash: the value of the option before it */
  if (pending == NULL && nw >= 3 && strcmp(w[nw - 2], "=") == 0 && w[nw - 3][0] == '-' &&
      takes_value(&c, w[nw - 3]))
    pending = w[nw - 3];
  if (pending == NULL && strcmp(cur, "=") == 0 && nw >= 2 && takes_value(&c, w[nw - 2])) {
    pending = w[nw - 2];
    cur = "";
  }
  const char *eq = cur[0] == '-' ? strchr(cur, '=') : NULL;
  if (pending == NULL && eq != NULL) {
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)(eq - cur), cur);
    if (takes_value(&c, name)) {
      static char lead[64];
      snprintf(lead, sizeof(lead), "%s", cur);
      lead[eq - cur + 1] = '\0';
      c.lead = lead;
      c.prefix = eq + 1;
      put_value(&c, name);
    }
  } else if (pending != NULL) {
    c.prefix = cur;
    put_value(&c, pending);
  } else if (cur[0] == '-') {
    c.prefix = cur;
    put_options(&c);
  } else if (c.cmd == NULL) {
    c.prefix = cur;
    put_commands(&c);
  } else if ((subs = subs_of(c.cmd)) != NULL && c.sub == NULL) {
    c.prefix = cur;
    put_words(&c, subs);
  } else {
    c.prefix = cur;
    for (size_t i = 0; i < sizeof(positional) / sizeof(positional[0]); i++) {
      const char *ps = positional[i].sub;
      if (strcmp(positional[i].cmd, c.cmd) != 0 || (ps != NULL && !same(ps, c.sub)))
        continue;
      enum kind k = positional[i].kind;
      if (k == K_FILES)
        printf(":files\n");
      else if (npos > 0)
        break;
      else if (k == K_COMMAND)
        put_commands(&c);
      else if (k == K_WORDS)
        put_words(&c, shells);
      else
        put_names(&c, k);
      break;
    }
  }
  spec_tree_free(c.t);
  return CLI_OK;
}
