import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { AllAccessProvider } from '../index.ts'
import { App } from './App.tsx'
import './styles.css'

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <AllAccessProvider>
      <App />
    </AllAccessProvider>
  </StrictMode>,
)
