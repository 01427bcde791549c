// Compiles a TypeScript app's files in a worker thread and posts back what TypeScript says of them,
// one line each. A program takes its thread for up to half a minute on a loaded machine; on the test
// file's own thread, vitest's messages to it (answered in time) went unread past their 60-s limit, and
// a run with every test passed failed with "Timeout calling onTaskUpdate".
import { relative } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import ts from 'typescript'

const { names, options, folder } = workerData
const program = ts.createProgram(names, options)
// Declarations go nowhere: their diagnostics (a type the app's declarations cannot name) are what counts.
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit(undefined, () => {}).diagnostics]
parentPort.postMessage([
  ...new Set(
    diagnostics.map((diagnostic) => {
      const where = diagnostic.file ? `${relative(folder, diagnostic.file.fileName)}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1}` : ''
      return `${where} TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
    }),
  ),
])
