package app

import "github.com/lmx-app/lmx/store"

// The Chat page's conversations live in the store; these methods make the
// App the API's ChatStore.

// Chats lists the conversations, most recently updated first.
func (a *App) Chats() ([]store.ChatSummary, error) { return a.db.Chats() }

// CreateChat stores a new empty conversation.
func (a *App) CreateChat(title, model string) (store.Chat, error) {
	return a.db.CreateChat(title, model)
}

// Chat returns conversation id with its messages and settings.
func (a *App) Chat(id string) (store.Chat, error) { return a.db.Chat(id) }

// EditChat changes conversation id in one transaction.
func (a *App) EditChat(id string, edit func(*store.Chat) error) (store.Chat, error) {
	return a.db.EditChat(id, edit)
}

// DeleteChat removes conversation id.
func (a *App) DeleteChat(id string) error { return a.db.DeleteChat(id) }
