// The spec's Node.js `ws` header snippet with the spec's onopen/onmessage/onerror/onclose handlers, indentation restored.
// Added at the end only: close after a few messages so the client ends, and exit non-zero after an error.
// Node.js with ws library
const WebSocket = require('ws');
const ws = new WebSocket('ws://localhost:8080/api/ws', {
  headers: { 'X-API-Key': 'your-api-key' }
});

ws.onopen = () => {
  console.log('Connected to Aranet WebSocket');
};

ws.onmessage = (event) => {
  const data = JSON.parse(event.data);
  console.log(`Device: ${data.device_id}`);
  console.log(`CO2: ${data.reading.co2} ppm`);
  console.log(`Temperature: ${data.reading.temperature}°C`);
};

ws.onerror = (error) => {
  console.error('WebSocket error:', error);
};

ws.onclose = () => {
  console.log('Disconnected from Aranet WebSocket');
  // Implement reconnection logic here
};

// added: stop after a few messages; an error (e.g. a refused key) fails the run
const MAX_MESSAGES = 5;
let received = 0;
ws.addEventListener('message', () => {
  received += 1;
  if (received === MAX_MESSAGES) ws.close();
});
ws.addEventListener('error', () => {
  process.exitCode = 1;
});
