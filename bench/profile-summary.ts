// `tsx bench/profile-summary.ts <file.cpuprofile>`: the functions and packages where a V8 CPU profile
// spent its time, by self time, for the README's performance notes.
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
const profile = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
const self = new Map<number, number>()
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const byFunction = new Map<string, number>()
const byPlace = new Map<string, number>()
for (const node of profile.nodes) {
  const time = self.get(node.id) ?? 0
  const { functionName, url, lineNumber } = node.callFrame
  const file = url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, 'node_modules/').replace(/^.*\/(dist|server)\//, '$1/')
  const place = url === '' ? `(${functionName || 'native'})` : url.startsWith('node:') ? url : file.startsWith('node_modules/') ? file.split('/').slice(0, file.split('/')[1].startsWith('@') ? 3 : 2).join('/') : file
  byFunction.set(`${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`, (byFunction.get(`${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`) ?? 0) + time)
  byPlace.set(place, (byPlace.get(place) ?? 0) + time)
}
const top = (map: Map<string, number>, n: number) =>
  [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, time]) => `  ${((100 * time) / total).toFixed(1).padStart(5)}%  ${name}`)
console.log(`${(total / 1e6).toFixed(1)} s sampled`)
console.log('By place:')
console.log(top(byPlace, 15).join('\n'))
console.log('By function (self time):')
console.log(top(byFunction, 25).join('\n'))
