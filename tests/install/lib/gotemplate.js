// A deliberately small renderer for the subset of Go text/template + Sprig
// that charts/orgsecrets uses, so that the chart can be rendered and checked
// without a helm binary. It refuses what it does not know (unknown function,
// unknown action, missing value key) instead of guessing, so a template that
// strays outside the subset fails the test rather than rendering wrongly.
"use strict";

const YAML = require("yaml");

class TemplateError extends Error {}

// ---- lexing: text and {{ actions }} with trim markers and comments ----

function lex(src, file) {
  const out = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    if (open < 0) {
      out.push({ t: "text", s: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let j = open + 2;
    const trimLeft = src[j] === "-" && /\s/.test(src[j + 1]);
    if (trimLeft) j += 2;
    const close = findClose(src, j, file);
    let body = src.slice(j, close);
    let trimRight = false;
    if (/\s-$/.test(body)) {
      trimRight = true;
      body = body.slice(0, -2);
    }
    if (trimLeft) text = text.replace(/\s+$/, "");
    out.push({ t: "text", s: text });
    body = body.trim();
    if (!(body.startsWith("/*") && body.endsWith("*/"))) {
      out.push({ t: "action", s: body, line: lineOf(src, open), file });
    }
    i = close + 2;
    if (trimRight) {
      while (i < src.length && /\s/.test(src[i])) i++;
    }
  }
  return out;
}

function findClose(src, j, file) {
  let inStr = null;
  for (let k = j; k < src.length - 1; k++) {
    const c = src[k];
    if (inStr) {
      if (c === "\\" && inStr === '"') k++;
      else if (c === inStr) inStr = null;
    } else if (c === '"' || c === "`") {
      inStr = c;
    } else if (c === "}" && src[k + 1] === "}") {
      return k;
    }
  }
  throw new TemplateError(`${file}: unterminated action`);
}

function lineOf(src, pos) {
  return src.slice(0, pos).split("\n").length;
}

// ---- parsing actions into a tree ----

function parse(tokens, defines) {
  let pos = 0;
  function block(stopAt) {
    const nodes = [];
    while (pos < tokens.length) {
      const tok = tokens[pos];
      if (tok.t === "text") {
        nodes.push({ type: "text", s: tok.s });
        pos++;
        continue;
      }
      const where = `${tok.file}:${tok.line}`;
      const m = /^(\w+)\b\s*([\s\S]*)$/.exec(tok.s);
      const word = m ? m[1] : "";
      if (word === "end" || word === "else") {
        if (!stopAt) throw new TemplateError(`${where}: unexpected {{${tok.s}}}`);
        return nodes;
      }
      pos++;
      if (word === "if" || word === "with" || word === "range") {
        nodes.push(control(word, m[2], where));
      } else if (word === "define") {
        const name = JSON.parse(m[2].trim());
        defines[name] = block(true);
        expectEnd(where);
      } else if (["template", "block", "break", "continue"].includes(word)) {
        throw new TemplateError(`${where}: {{${word}}} is outside the supported subset`);
      } else {
        nodes.push({ type: "action", pipe: parsePipeline(tok.s, where), where });
      }
    }
    if (stopAt) throw new TemplateError("missing {{end}}");
    return nodes;
  }
  function expectEnd(where) {
    const tok = tokens[pos];
    if (!tok || tok.t !== "action" || tok.s !== "end") {
      throw new TemplateError(`${where}: expected {{end}}`);
    }
    pos++;
  }
  function control(kind, expr, where) {
    const node = { type: kind, pipe: parsePipeline(expr, where), body: block(true), elseBody: null, where };
    const tok = tokens[pos];
    if (tok.s === "end") {
      pos++;
      return node;
    }
    // {{else}} or {{else if ...}}
    const rest = tok.s.replace(/^else\b\s*/, "");
    pos++;
    if (rest === "") {
      node.elseBody = block(true);
      expectEnd(where);
    } else {
      const m = /^if\b\s*([\s\S]*)$/.exec(rest);
      if (!m || kind !== "if") throw new TemplateError(`${where}: unsupported {{${tok.s}}}`);
      node.elseBody = [control("if", m[1], where)];
    }
    return node;
  }
  return block(false);
}

// A pipeline is commands separated by |; a command is operands; an operand
// is a literal, a field chain (.A.B, $.A.B, .), or a parenthesised pipeline.
function parsePipeline(s, where) {
  const toks = tokenizeExpr(s, where);
  let p = 0;
  function pipeline(endTok) {
    const cmds = [[]];
    while (p < toks.length && toks[p].k !== endTok) {
      const t = toks[p++];
      if (t.k === "|") cmds.push([]);
      else if (t.k === "(") {
        cmds[cmds.length - 1].push({ k: "pipe", cmds: pipeline(")") });
        p++;
      } else cmds[cmds.length - 1].push(t);
    }
    if (cmds.some((c) => c.length === 0)) throw new TemplateError(`${where}: empty command in "${s}"`);
    return cmds;
  }
  const cmds = pipeline(null);
  return cmds;
}

function tokenizeExpr(s, where) {
  const toks = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "|" || c === "(" || c === ")") {
      toks.push({ k: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      toks.push({ k: "lit", v: JSON.parse(s.slice(i, j + 1)) });
      i = j + 1;
    } else if (c === "`") {
      const j = s.indexOf("`", i + 1);
      toks.push({ k: "lit", v: s.slice(i + 1, j) });
      i = j + 1;
    } else {
      const m = /^[^\s|()]+/.exec(s.slice(i));
      const w = m[0];
      i += w.length;
      if (/^-?\d+(\.\d+)?$/.test(w)) toks.push({ k: "lit", v: Number(w) });
      else if (w === "true" || w === "false") toks.push({ k: "lit", v: w === "true" });
      else if (w === "nil") toks.push({ k: "lit", v: null });
      else if (w === "." || /^(\$|\.)[\w.$]*$/.test(w)) toks.push({ k: "field", v: w });
      else if (/^[a-zA-Z]\w*$/.test(w)) toks.push({ k: "ident", v: w });
      else throw new TemplateError(`${where}: cannot parse "${w}" in "${s}"`);
    }
  }
  return toks;
}

// ---- evaluation ----

function truthy(v) {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

function printable(v, where) {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new TemplateError(`${where}: refusing to print a ${Array.isArray(v) ? "list" : "map"} (use toYaml)`);
}

function toYaml(v) {
  if (v === undefined || v === null) return "null";
  return YAML.stringify(v, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, "");
}

function indentLines(n, s) {
  const pad = " ".repeat(n);
  return String(s)
    .split("\n")
    .map((l) => pad + l)
    .join("\n");
}

function goPrintf(fmt, args, where) {
  let k = 0;
  return fmt.replace(/%([sdvq%])/g, (all, verb) => {
    if (verb === "%") return "%";
    if (k >= args.length) throw new TemplateError(`${where}: printf: missing argument`);
    const a = args[k++];
    if (verb === "q") return JSON.stringify(printable(a, where));
    return printable(a, where);
  });
}

class Renderer {
  constructor(files, root) {
    this.defines = {};
    this.files = {};
    this.root = root;
    for (const [name, src] of Object.entries(files)) {
      this.files[name] = parse(lex(src, name), this.defines);
    }
  }

  render(name) {
    return this.exec(this.files[name], this.root);
  }

  exec(nodes, dot) {
    let out = "";
    for (const n of nodes) {
      if (n.type === "text") out += n.s;
      else if (n.type === "action") out += printable(this.evalPipe(n.pipe, dot, n.where), n.where);
      else if (n.type === "if") {
        if (truthy(this.evalPipe(n.pipe, dot, n.where))) out += this.exec(n.body, dot);
        else if (n.elseBody) out += this.exec(n.elseBody, dot);
      } else if (n.type === "with") {
        const v = this.evalPipe(n.pipe, dot, n.where);
        if (truthy(v)) out += this.exec(n.body, v);
        else if (n.elseBody) out += this.exec(n.elseBody, dot);
      } else if (n.type === "range") {
        const v = this.evalPipe(n.pipe, dot, n.where);
        if (v !== null && v !== undefined && !Array.isArray(v)) {
          throw new TemplateError(`${n.where}: range over a non-list is outside the supported subset`);
        }
        if (truthy(v)) for (const item of v) out += this.exec(n.body, item);
        else if (n.elseBody) out += this.exec(n.elseBody, dot);
      }
    }
    return out;
  }

  evalPipe(cmds, dot, where) {
    let val;
    cmds.forEach((cmd, i) => {
      val = this.evalCmd(cmd, dot, where, i > 0, val);
    });
    return val;
  }

  evalArg(t, dot, where) {
    if (t.k === "lit") return t.v;
    if (t.k === "pipe") return this.evalPipe(t.cmds, dot, where);
    if (t.k === "field") return this.field(t.v, dot, where);
    if (t.k === "ident") return this.call(t.v, [], where);
    throw new TemplateError(`${where}: unexpected token`);
  }

  evalCmd(cmd, dot, where, piped, prev) {
    const head = cmd[0];
    if (head.k === "ident") {
      const args = cmd.slice(1).map((t) => this.evalArg(t, dot, where));
      if (piped) args.push(prev);
      return this.call(head.v, args, where, dot);
    }
    if (cmd.length !== 1 || piped) throw new TemplateError(`${where}: cannot pipe into a non-function`);
    return this.evalArg(head, dot, where);
  }

  // .A.B relative to dot; $ and $.A.B relative to the root. A missing key is
  // an error here (Helm would print nothing), so a typo cannot pass silently.
  field(path, dot, where) {
    let base = dot;
    let rest = path;
    if (path.startsWith("$")) {
      base = this.root;
      rest = path.slice(1);
    }
    if (rest === "" || rest === ".") return base;
    let v = base;
    for (const key of rest.split(".").slice(1)) {
      if (v === null || v === undefined || typeof v !== "object") {
        throw new TemplateError(`${where}: nil pointer evaluating ${path}`);
      }
      if (!Object.prototype.hasOwnProperty.call(v, key)) {
        throw new TemplateError(`${where}: ${path}: no key "${key}"`);
      }
      v = v[key];
    }
    return v;
  }

  call(name, args, where, dot) {
    const need = (n) => {
      if (args.length !== n) throw new TemplateError(`${where}: ${name} takes ${n} arguments, got ${args.length}`);
    };
    switch (name) {
      case "include": {
        need(2);
        const body = this.defines[args[0]];
        if (!body) throw new TemplateError(`${where}: no template "${args[0]}"`);
        return this.exec(body, args[1]);
      }
      case "toYaml":
        need(1);
        return toYaml(args[0]);
      case "nindent":
        need(2);
        return "\n" + indentLines(args[0], args[1]);
      case "indent":
        need(2);
        return indentLines(args[0], args[1]);
      case "quote":
        return args.map((a) => JSON.stringify(printable(a, where))).join(" ");
      case "default":
        need(2);
        return truthy(args[1]) ? args[1] : args[0];
      case "trunc":
        need(2);
        return String(args[1]).slice(0, args[0]);
      case "trimSuffix":
        need(2);
        return String(args[1]).endsWith(args[0]) ? String(args[1]).slice(0, -args[0].length || undefined) : args[1];
      case "replace":
        need(3);
        return String(args[2]).split(args[0]).join(args[1]);
      case "contains":
        need(2);
        return String(args[1]).includes(args[0]);
      case "printf":
        return goPrintf(args[0], args.slice(1), where);
      case "eq":
        return args.slice(1).some((a) => a === args[0]);
      case "ne":
        need(2);
        return args[0] !== args[1];
      case "and": {
        for (const a of args) if (!truthy(a)) return a;
        return args[args.length - 1];
      }
      case "or": {
        for (const a of args) if (truthy(a)) return a;
        return args[args.length - 1];
      }
      case "not":
        need(1);
        return !truthy(args[0]);
      case "empty":
        need(1);
        return !truthy(args[0]);
      case "fail":
        need(1);
        throw new TemplateError(`execution error: ${args[0]}`);
      case "required":
        need(2);
        if (!truthy(args[1])) throw new TemplateError(`execution error: ${args[0]}`);
        return args[1];
      default:
        throw new TemplateError(`${where}: function "${name}" is outside the supported subset`);
    }
  }
}

// Renders every templates/*.yaml of a chart the way `helm template` does
// (NOTES.txt and _*.tpl excluded from the output). Returns {file: text}.
function renderChart({ templates, values, chart, release }) {
  const root = {
    Values: values,
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Release: { Name: release.name, Namespace: release.namespace, Service: "Helm", IsInstall: true, IsUpgrade: false },
    Capabilities: {},
  };
  const r = new Renderer(templates, root);
  const out = {};
  for (const name of Object.keys(templates)) {
    const base = name.split("/").pop();
    if (base.startsWith("_")) continue;
    out[name] = r.render(name);
  }
  return out;
}

module.exports = { renderChart, TemplateError, toYaml, truthy };
