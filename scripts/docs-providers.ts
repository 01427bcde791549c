// Writes docs/providers.md from the preset data (npm run docs:providers).
import { writeFileSync } from 'node:fs'
import { PRESETS_DOC_PATH, presetsMarkdown } from '../server/providers/presets-doc.ts'

writeFileSync(PRESETS_DOC_PATH, presetsMarkdown())
console.log(`wrote ${PRESETS_DOC_PATH}`)
