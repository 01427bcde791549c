// The provider API every proxy under test calls: any request gets the same ~300-byte JSON answer.
import { createServer } from 'node:http'
import { listen } from './child.ts'

const item = (id: number) => ({ id, name: `Item number ${id}`, done: id % 2 === 0 })
const BODY = JSON.stringify({ items: [1, 2, 3, 4, 5].map(item), page: 1, pageSize: 5, total: 42, next: '/v1/data?page=2' })

const server = createServer((req, res) => {
  // Drain any request body before answering, as a real API would read it.
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(BODY), ETag: '"v1"', 'Set-Cookie': 'upstream=1' })
    res.end(BODY)
  })
})
listen(server, 'upstream')
