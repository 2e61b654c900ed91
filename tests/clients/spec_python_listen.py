# The spec's listen_to_aranet() example (no API key), indentation restored.
# Added (marked "added"): a stop after a few messages so the client ends.
import asyncio
import json
import websockets

MAX_MESSAGES = 5  # added


async def listen_to_aranet():
    uri = "ws://localhost:8080/api/ws"
    async with websockets.connect(uri) as websocket:
        print("Connected to Aranet WebSocket")
        received = 0  # added
        async for message in websocket:
            data = json.loads(message)
            reading = data["reading"]
            print(f"Device: {data['device_id']}")
            print(f" CO2: {reading['co2']} ppm")
            print(f" Temperature: {reading['temperature']}°C")
            print(f" Humidity: {reading['humidity']}%")
            print()
            received += 1  # added
            if received >= MAX_MESSAGES:  # added
                break  # added


if __name__ == "__main__":
    asyncio.run(listen_to_aranet())
