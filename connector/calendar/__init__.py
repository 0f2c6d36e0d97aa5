"""Calendar providers for booking meetings: free/busy and event creation on Google Calendar and Microsoft Graph."""
