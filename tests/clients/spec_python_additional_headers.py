# The spec's "Python with websockets" header snippet, indentation restored, for websockets >= 14: `additional_headers`, `proxy=None`.
# Added (marked "added"): imports, a coroutine around it, and `...` filled with listen_to_aranet's loop, stopping after a few messages.
import asyncio  # added
import json  # added

# Python with websockets
import websockets

MAX_MESSAGES = 5  # added: stop after a few messages so the client ends


async def main():  # added: `async with` needs a coroutine
    async with websockets.connect(
        "ws://localhost:8080/api/ws",
        # websockets >= 14 names it `additional_headers` (`extra_headers` fails with a
        # misleading create_connection() TypeError). From 15.0 the client connects through
        # HTTP(S)_PROXY / ALL_PROXY from the environment, even to localhost unless no_proxy
        # lists it; we run 17.x, so proxy=None keeps this loopback connection direct.
        additional_headers={"X-API-Key": "your-api-key"},
        proxy=None,
    ) as ws:
        received = 0  # added
        async for message in ws:
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


asyncio.run(main())  # added
