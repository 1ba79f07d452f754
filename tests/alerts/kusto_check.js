// Microsoft's Kusto language service (Kusto.Language compiled to JavaScript) over the queries on stdin:
// {"tables": {name: {column: kustoType}}, "queries": {id: text}} -> {id: [errors]} on stdout.
// Loaded as DESIGN.md says: bridge.js, then Kusto.Language.Bridge.js, into this global scope.
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const dir = path.join(__dirname, "..", "..", "node_modules", "@kusto", "language-service-next");
for (const file of ["bridge.js", "Kusto.Language.Bridge.js"]) {
  vm.runInThisContext(fs.readFileSync(path.join(dir, file), "utf8"), { filename: file });
}
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const K = Kusto.Language;
const tables = Object.entries(input.tables).map(([name, columns]) =>
  new K.Symbols.TableSymbol.$ctor7(name, "(" + Object.entries(columns).map(([c, t]) => `['${c}']:${t}`).join(", ") + ")", null));
const db = new K.Symbols.DatabaseSymbol.$ctor2("db", null, tables);
const globals = K.GlobalState.Default.WithDatabase(db);
const out = {};
for (const [id, text] of Object.entries(input.queries)) {
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = code.GetDiagnostics();
  const errors = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    if (d.Severity === "Error") errors.push(`${d.Code} at ${d.Start}: ${d.Message}`);
  }
  out[id] = errors;
}
process.stdout.write(JSON.stringify(out));
